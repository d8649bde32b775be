/**
 * `ephemeral-jobs zip <id> --out` onto another file system than the base
 * path (a real tmpfs), where a rename from the base path would fail with
 * EXDEV, and onto a full one, where the copy must leave nothing half-written.
 */
import { randomBytes } from "node:crypto";
import { execFile } from "node:child_process";
import fs from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ZipCommandResult } from "../src/cli/commands.js";
import { cli, expectOneLineError } from "./helpers/cli.js";
import { openStorage } from "./helpers/temp.js";
import { mountTmpfs, probeTmpfs, type Tmpfs } from "./helpers/tmpfs.js";

const execFileAsync = promisify(execFile);

const probe = await probeTmpfs();
if (!probe.ok) {
  console.warn(`cli zip --out tests skipped: cannot mount a tmpfs here (needs root or CAP_SYS_ADMIN): ${probe.reason}`);
}

describe.skipIf(!probe.ok)("zip --out on another file system", () => {
  let other: Tmpfs;
  let full: Tmpfs;

  beforeAll(async () => {
    other = await mountTmpfs("size=64m");
    full = await mountTmpfs("size=256k");
  });
  afterAll(async () => {
    await other?.unmount();
    await full?.unmount();
  });

  /** A job on a base path under the OS temp dir, never on the tmpfs. */
  async function jobWith(files: { path: string; content: string | Buffer }[], complete: boolean) {
    const { storage, basePath } = await openStorage();
    const job = await storage.createJob({ projectName: "cross" });
    await storage.writeFiles(job.jobId, files);
    if (complete) await storage.completeJob(job.jobId);
    // The point of the test: the two are different file systems.
    expect((await fs.stat(basePath)).dev).not.toBe((await fs.stat(other.dir)).dev);
    return { storage, basePath, jobId: job.jobId };
  }

  it("builds a generating job's ZIP and writes it to --out on the other file system", async () => {
    const { storage, basePath, jobId } = await jobWith(
      [
        { path: "src/index.ts", content: "export const x = 1;\n" },
        { path: "README.md", content: "# cross\n".repeat(1000) },
      ],
      false,
    );
    const outDir = await fs.mkdtemp(path.join(other.dir, "out-"));
    const out = path.join(outDir, "x.zip");
    const result = await cli(["zip", jobId, "--out", out, "--json", "--base-path", basePath]);
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout) as ZipCommandResult).toMatchObject({ jobId, out, built: true });

    const zip = await storage.openZip(jobId);
    zip.stream.destroy();
    expect((await fs.stat(out)).size).toBe(zip.size);
    expect((await execFileAsync("unzip", ["-t", out])).stdout).toMatch(/No errors detected/);
    expect((await execFileAsync("unzip", ["-p", out, "src/index.ts"])).stdout).toBe("export const x = 1;\n");
    expect(await fs.readdir(outDir)).toEqual(["x.zip"]); // the temporary name was renamed away
  });

  it("writes <project>.zip into an existing directory on the other file system, replacing an older copy", async () => {
    const { basePath, jobId } = await jobWith([{ path: "a.txt", content: "a\n" }], true);
    const outDir = await fs.mkdtemp(path.join(other.dir, "dir-"));
    await fs.writeFile(path.join(outDir, "cross.zip"), "an older download");
    const result = await cli(["zip", jobId, "--out", outDir, "--base-path", basePath]);
    expect(result.code).toBe(0);
    const out = path.join(outDir, "cross.zip");
    expect(result.stdout).toBe(`Wrote ${out} (${(await fs.stat(out)).size} B, 1 files)\n`);
    expect((await execFileAsync("unzip", ["-Z1", out])).stdout).toBe("a.txt\n");
    expect(await fs.readdir(outDir)).toEqual(["cross.zip"]);
  });

  it("fails in one line on a full file system, leaving the file at --out as it was and no partial file", async () => {
    // 1 MiB of random bytes is stored, not deflated: the ZIP cannot fit in 256 KiB.
    const { basePath, jobId } = await jobWith([{ path: "noise.bin", content: randomBytes(1024 * 1024) }], true);
    const outDir = await fs.mkdtemp(path.join(full.dir, "full-"));
    const out = path.join(outDir, "x.zip");
    await fs.writeFile(out, "the previous download");
    const result = await cli(["zip", jobId, "--out", out, "--base-path", basePath]);
    expectOneLineError(result, 1, /No space left on .*x\.zip.*\[STORAGE_FULL\]$/);
    expect(await fs.readFile(out, "utf8")).toBe("the previous download");
    expect(await fs.readdir(outDir)).toEqual(["x.zip"]);
  });
});
