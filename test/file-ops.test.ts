/**
 * What agents and their UIs expect of a job's files (SPEC §8): move, stat,
 * listing a folder, integrity against the index, plan progress, and
 * identical rewrites that leave the file alone.
 */
import { createHash } from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import type { JobStorageManager } from "../src/index.js";
import { readJobFromDisk } from "./fixtures/verify.js";
import { fakeClock, openStorage } from "./helpers/temp.js";
import { rejection } from "./helpers/rejection.js";

const sha = (text: string): string => createHash("sha256").update(text).digest("hex");


async function countsMatchDisk(storage: JobStorageManager, jobId: string): Promise<void> {
  const job = (await storage.getJob(jobId))!;
  const listed = await storage.listFiles(jobId);
  expect(job.filesCount).toBe(listed.length);
  expect(job.totalSizeBytes).toBe(listed.reduce((sum, file) => sum + file.size, 0));
  const disk = await readJobFromDisk(storage, jobId);
  expect({ filesCount: disk.filesCount, totalSizeBytes: disk.totalSizeBytes }).toEqual({ filesCount: job.filesCount, totalSizeBytes: job.totalSizeBytes });
}

describe("moveFile", () => {
  it("renames a file inside the job, into new folders, keeping its content, hash and mode", async () => {
    const { storage, basePath } = await openStorage();
    const { jobId } = await storage.createJob({ projectName: "refactor" });
    await storage.writeFile(jobId, "src/Button.tsx", "export const Button = 1;\n");
    await storage.writeFile(jobId, "bin/run", "#!/bin/sh\n", { executable: true });
    const moved = await storage.moveFile(jobId, "./src/Button.tsx", "src/components/ui/Button.tsx");
    expect(moved).toEqual({
      from: "src/Button.tsx",
      path: "src/components/ui/Button.tsx",
      size: 25,
      sha256: sha("export const Button = 1;\n"),
      overwritten: false,
    });
    expect(await storage.readFile(jobId, "src/components/ui/Button.tsx", "utf8")).toBe("export const Button = 1;\n");
    await expect(fs.stat(path.join(basePath, jobId, "files", "src", "Button.tsx"))).rejects.toMatchObject({ code: "ENOENT" });
    expect(await storage.statFile(jobId, "src/Button.tsx")).toBeUndefined();
    await storage.moveFile(jobId, "bin/run", "scripts/run");
    expect((await storage.statFile(jobId, "scripts/run"))?.executable).toBe(true);
    expect((await fs.stat(path.join(basePath, jobId, "files", "scripts", "run"))).mode & 0o777).toBe(0o755);
    expect((await storage.listFiles(jobId)).map((file) => file.path)).toEqual(["scripts/run", "src/components/ui/Button.tsx"]);
    await countsMatchDisk(storage, jobId);
  });

  it("refuses to move onto an existing file without overwrite (FILE_EXISTS), and replaces it with overwrite; counts stay exact", async () => {
    const { storage } = await openStorage();
    const { jobId } = await storage.createJob({ projectName: "overwrite" });
    await storage.writeFiles(jobId, [
      { path: "a.ts", content: "aaaa" },
      { path: "b.ts", content: "bbbbbbbb" },
    ]);
    const refused = await rejection(storage.moveFile(jobId, "a.ts", "b.ts"));
    expect(refused).toMatchObject({ code: "FILE_EXISTS", jobId, path: "b.ts" });
    expect(await storage.readFile(jobId, "a.ts", "utf8")).toBe("aaaa");
    expect(await storage.readFile(jobId, "b.ts", "utf8")).toBe("bbbbbbbb");
    expect(await storage.getJob(jobId)).toMatchObject({ filesCount: 2, totalSizeBytes: 12 });

    expect((await storage.moveFile(jobId, "a.ts", "b.ts", { overwrite: true })).overwritten).toBe(true);
    expect(await storage.readFile(jobId, "b.ts", "utf8")).toBe("aaaa");
    expect(await storage.getJob(jobId)).toMatchObject({ filesCount: 1, totalSizeBytes: 4 });
    await countsMatchDisk(storage, jobId);
  });

  it("gives clear errors: a missing file, a file onto itself, bad paths, a directory in the way, a finished job", async () => {
    const { storage } = await openStorage();
    const { jobId } = await storage.createJob({ projectName: "errors" });
    await storage.writeFiles(jobId, [
      { path: "a.ts", content: "a" },
      { path: "dir/inner.ts", content: "i" },
    ]);
    expect(await rejection(storage.moveFile(jobId, "missing.ts", "b.ts"))).toMatchObject({ code: "FILE_NOT_FOUND", path: "missing.ts" });
    expect(await rejection(storage.moveFile(jobId, "dir", "other"))).toMatchObject({ code: "FILE_NOT_FOUND" });
    const self = await rejection(storage.moveFile(jobId, "a.ts", "./a.ts"));
    expect(self.code).toBe("INVALID_INPUT");
    expect(self.message).toContain("onto itself");
    expect((await rejection(storage.moveFile(jobId, "a.ts", "../escape.ts"))).code).toBe("INVALID_PATH");
    expect((await rejection(storage.moveFile(jobId, "../a.ts", "b.ts"))).code).toBe("INVALID_PATH");
    expect((await rejection(storage.moveFile(jobId, "a.ts", "dir"))).code).toBe("INVALID_PATH");
    expect((await rejection(storage.moveFile(jobId, "a.ts", "dir", { overwrite: true }))).code).toBe("INVALID_PATH");
    expect((await rejection(storage.moveFile(jobId, "a.ts", "a.ts/x"))).code).toBe("INVALID_PATH");
    expect((await rejection(storage.moveFile("no-such-job", "a.ts", "b.ts"))).code).toBe("JOB_NOT_FOUND");
    await storage.completeJob(jobId);
    expect((await rejection(storage.moveFile(jobId, "a.ts", "b.ts"))).code).toBe("INVALID_STATE");
    expect((await storage.listFiles(jobId)).map((file) => file.path)).toEqual(["a.ts", "dir/inner.ts"]);
    await countsMatchDisk(storage, jobId);
  });
});

describe("statFile and listFiles", () => {
  it("statFile answers size, modified, sha256 and executable, or undefined", async () => {
    const { storage, basePath } = await openStorage();
    const { jobId } = await storage.createJob({ projectName: "stat" });
    await storage.writeFile(jobId, "src/index.ts", "export {};\n");
    const stat = (await storage.statFile(jobId, "src/index.ts"))!;
    const disk = await fs.stat(path.join(basePath, jobId, "files", "src", "index.ts"));
    expect(stat).toEqual({ path: "src/index.ts", size: 11, modified: disk.mtime, sha256: sha("export {};\n"), executable: false });
    expect(await storage.statFile(jobId, "src/missing.ts")).toBeUndefined();
    expect(await storage.statFile(jobId, "src")).toBeUndefined();
    expect((await rejection(storage.statFile(jobId, "../x"))).code).toBe("INVALID_PATH");
    expect((await rejection(storage.statFile("nope", "a"))).code).toBe("JOB_NOT_FOUND");
  });

  it("listFiles with a prefix lists one folder's subtree, and entries carry sha256", async () => {
    const { storage } = await openStorage();
    const { jobId } = await storage.createJob({ projectName: "prefix" });
    const paths = ["src/a.ts", "src/app/page.tsx", "src/app/[id]/page.tsx", "src-old/x.ts", "src.ts", "srcx/y.ts", "README.md"];
    await storage.writeFiles(jobId, paths.map((p) => ({ path: p, content: p })));
    expect((await storage.listFiles(jobId, { prefix: "src" })).map((file) => file.path)).toEqual(["src/a.ts", "src/app/[id]/page.tsx", "src/app/page.tsx"]);
    expect((await storage.listFiles(jobId, { prefix: "src/app/" })).map((file) => file.path)).toEqual(["src/app/[id]/page.tsx", "src/app/page.tsx"]);
    expect((await storage.listFiles(jobId, { prefix: "README.md" })).map((file) => file.path)).toEqual(["README.md"]);
    expect(await storage.listFiles(jobId, { prefix: "nothing" })).toEqual([]);
    expect((await storage.listFiles(jobId)).map((file) => file.path)).toEqual([...paths].sort());
    for (const file of await storage.listFiles(jobId)) expect(file.sha256).toBe(sha(file.path));
    expect((await rejection(storage.listFiles(jobId, { prefix: "../etc" }))).code).toBe("INVALID_PATH");
  });
});

describe("identical rewrites", () => {
  it("leave the file and its modified time alone and answer unchanged: true", async () => {
    const { storage, basePath } = await openStorage();
    const { jobId } = await storage.createJob({ projectName: "fixer" });
    const first = await storage.writeFile(jobId, "src/a.ts", "export const a = 1;\n");
    expect(first.unchanged).toBeUndefined();
    const file = path.join(basePath, jobId, "files", "src", "a.ts");
    const before = await fs.stat(file);
    const again = await storage.writeFile(jobId, "src/a.ts", Buffer.from("export const a = 1;\n"));
    expect(again).toEqual({ path: "src/a.ts", size: 20, unchanged: true });
    const after = await fs.stat(file);
    expect({ ino: after.ino, mtimeMs: after.mtimeMs }).toEqual({ ino: before.ino, mtimeMs: before.mtimeMs });
    expect((await storage.statFile(jobId, "src/a.ts"))!.modified).toEqual(before.mtime);

    const batch = await storage.writeFiles(jobId, [
      { path: "src/a.ts", content: "export const a = 1;\n" },
      { path: "src/b.ts", content: "new" },
    ]);
    expect(batch.results).toEqual([
      { path: "src/a.ts", success: true, size: 20, unchanged: true },
      { path: "src/b.ts", success: true, size: 3 },
    ]);
    // Different content, or the same content made executable, is a real write.
    expect((await storage.writeFile(jobId, "src/a.ts", "export const a = 2;\n")).unchanged).toBeUndefined();
    expect((await storage.writeFile(jobId, "src/a.ts", "export const a = 2;\n", { executable: true })).unchanged).toBeUndefined();
    expect((await storage.statFile(jobId, "src/a.ts"))!.executable).toBe(true);
    // Still a write: refused once the job is complete.
    await storage.completeJob(jobId);
    expect((await rejection(storage.writeFile(jobId, "src/b.ts", "new"))).code).toBe("INVALID_STATE");
    await countsMatchDisk(storage, jobId);
  });
});

describe("verifyJob", () => {
  it("re-hashes every file: ok, then mismatched, missing and unexpected files behind the library's back", async () => {
    const { storage, basePath } = await openStorage();
    const { jobId } = await storage.createJob({ projectName: "verify" });
    await storage.writeFiles(jobId, [
      { path: "a.ts", content: "a" },
      { path: "b/b.ts", content: "b" },
      { path: "c.ts", content: "c" },
    ]);
    expect(await storage.verifyJob(jobId)).toEqual({ ok: true, checked: 3, mismatched: [], missing: [], unexpected: [] });
    const files = path.join(basePath, jobId, "files");
    await fs.writeFile(path.join(files, "a.ts"), "A"); // same size, other content
    await fs.rm(path.join(files, "b", "b.ts"));
    await fs.writeFile(path.join(files, "extra.ts"), "x");
    await fs.symlink("/etc/passwd", path.join(files, "link")); // never followed, never reported as a file
    expect(await storage.verifyJob(jobId)).toEqual({ ok: false, checked: 3, mismatched: ["a.ts"], missing: ["b/b.ts"], unexpected: ["extra.ts"] });
    expect((await rejection(storage.verifyJob("nope"))).code).toBe("JOB_NOT_FOUND");
  });
});

describe("getProgress", () => {
  it("counts written files against the plan, per task, with what is missing and unplanned", async () => {
    const clock = fakeClock();
    const { storage } = await openStorage({ now: clock.now });
    const { jobId } = await storage.createJob({ projectName: "progress" });
    expect(await storage.getProgress(jobId)).toEqual({ plannedFiles: 0, writtenFiles: 0, percent: 0, missing: [], unplanned: [], tasks: [] });
    await storage.writePlan(jobId, {
      tasks: [
        { name: "Setup", files: ["package.json", "./tsconfig.json"] },
        { name: "Components", files: ["src/Button.tsx", "src/Card.tsx", "src/Modal.tsx"] },
        { name: "Pages", files: ["src/app/page.tsx", "src/Button.tsx"] },
      ],
    });
    await storage.writeFiles(jobId, [
      { path: "package.json", content: "{}" },
      { path: "tsconfig.json", content: "{}" },
      { path: "src/Button.tsx", content: "b" },
      { path: "notes.md", content: "extra" },
    ]);
    expect(await storage.getProgress(jobId)).toEqual({
      plannedFiles: 6,
      writtenFiles: 3,
      percent: 50,
      missing: ["src/Card.tsx", "src/Modal.tsx", "src/app/page.tsx"],
      unplanned: ["notes.md"],
      tasks: [
        { name: "Setup", planned: 2, written: 2, missing: [] },
        { name: "Components", planned: 3, written: 1, missing: ["src/Card.tsx", "src/Modal.tsx"] },
        { name: "Pages", planned: 2, written: 1, missing: ["src/app/page.tsx"] },
      ],
    });
    await storage.writeFiles(jobId, ["src/Card.tsx", "src/Modal.tsx", "src/app/page.tsx"].map((p) => ({ path: p, content: p })));
    expect(await storage.getProgress(jobId)).toMatchObject({ plannedFiles: 6, writtenFiles: 6, percent: 100, missing: [] });
    expect((await rejection(storage.getProgress("nope"))).code).toBe("JOB_NOT_FOUND");
  });
});
