import { execFileSync } from "node:child_process";
import fs from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { JobStorageError, JobStorageManager, isJobStorageError, type JobStorageEvents } from "../src/index.js";
import { fakeClock, openStorage, tempDir } from "./helpers/temp.js";

async function rejectsWith(promise: Promise<unknown>, code: string): Promise<JobStorageError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isJobStorageError(error), `expected a JobStorageError ${code}, got ${String(error)}`).toBe(true);
  expect((error as JobStorageError).code).toBe(code);
  return error as JobStorageError;
}

describe("jobs", () => {
  it("creates a job with an unguessable id and complete metadata", async () => {
    const clock = fakeClock();
    const { storage, basePath } = await openStorage({ now: clock.now });
    const job = await storage.createJob({ projectName: "my-react-app", userId: "u1" });
    expect(job.jobId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(job).toEqual({
      jobId: job.jobId,
      userId: "u1",
      projectName: "my-react-app",
      status: "generating",
      createdAt: "2026-01-01T00:00:00.000Z",
      expiresAt: "2026-01-03T00:00:00.000Z",
      filesCount: 0,
      totalSizeBytes: 0,
      zipReady: false,
    });
    expect(await storage.getJob(job.jobId)).toEqual(job);
    expect((await fs.stat(path.join(basePath, job.jobId))).isDirectory()).toBe(true);
  });

  it("takes a caller-given id once, and refuses it twice", async () => {
    const { storage } = await openStorage();
    await storage.createJob({ projectName: "p", jobId: "custom-id_1" });
    await rejectsWith(storage.createJob({ projectName: "p", jobId: "custom-id_1" }), "JOB_EXISTS");
    expect((await storage.listJobs()).map((j) => j.jobId)).toEqual(["custom-id_1"]);
  });

  it.each(["..", "a/b", "../x", ".hidden", "-x", "x".repeat(65), "", "a b", "a\u0000b", "C:\\x"])(
    "rejects the hostile job id %j and creates nothing outside the base path",
    async (jobId) => {
      const parent = await tempDir();
      const basePath = path.join(parent, "base");
      const { storage } = await openStorage({ basePath });
      const before = await fs.readdir(parent);
      await rejectsWith(storage.createJob({ projectName: "p", jobId }), "INVALID_JOB_ID");
      await rejectsWith(storage.writeFile(jobId, "a.txt", "x"), "INVALID_JOB_ID");
      await rejectsWith(storage.getJob(jobId), "INVALID_JOB_ID");
      await rejectsWith(storage.deleteJob(jobId), "INVALID_JOB_ID");
      expect(await fs.readdir(parent)).toEqual(before);
      expect((await fs.readdir(basePath)).sort()).toEqual([".index", ".tmp"]);
    },
  );

  it("rejects bad input with INVALID_INPUT naming the field", async () => {
    const { storage } = await openStorage();
    const error = await rejectsWith(storage.createJob({ projectName: "" }), "INVALID_INPUT");
    expect(error.message).toContain("projectName");
    await rejectsWith(storage.createJob({ projectName: "p", ttlHours: -1 }), "INVALID_INPUT");
  });

  it("lists jobs newest first, filtered by user and status", async () => {
    const clock = fakeClock();
    const { storage } = await openStorage({ now: clock.now });
    const a = await storage.createJob({ projectName: "a", userId: "u1" });
    clock.advanceHours(1);
    const b = await storage.createJob({ projectName: "b", userId: "u2" });
    clock.advanceHours(1);
    const c = await storage.createJob({ projectName: "c", userId: "u1" });
    await storage.failJob(c.jobId, "boom");
    expect((await storage.listJobs()).map((j) => j.jobId)).toEqual([c.jobId, b.jobId, a.jobId]);
    expect((await storage.listJobs({ userId: "u1" })).map((j) => j.jobId)).toEqual([c.jobId, a.jobId]);
    expect((await storage.listJobs({ status: "failed" })).map((j) => j.jobId)).toEqual([c.jobId]);
  });

  it("getJob is undefined for a missing job; operations throw JOB_NOT_FOUND", async () => {
    const { storage } = await openStorage();
    expect(await storage.getJob("nope")).toBeUndefined();
    await rejectsWith(storage.writeFile("nope", "a.txt", "x"), "JOB_NOT_FOUND");
    await rejectsWith(storage.writeFiles("nope", [{ path: "a.txt", content: "x" }]), "JOB_NOT_FOUND");
    await rejectsWith(storage.readFile("nope", "a.txt"), "JOB_NOT_FOUND");
    await rejectsWith(storage.listFiles("nope"), "JOB_NOT_FOUND");
    await rejectsWith(storage.completeJob("nope"), "JOB_NOT_FOUND");
    await rejectsWith(storage.openZip("nope"), "JOB_NOT_FOUND");
    await rejectsWith(storage.readPlan("nope"), "JOB_NOT_FOUND");
    expect(await storage.deleteJob("nope")).toBe(false);
  });
});

describe("files", () => {
  it("writes, reads, lists and deletes files with exact counts", async () => {
    const { storage } = await openStorage();
    const { jobId } = await storage.createJob({ projectName: "p" });
    expect(await storage.writeFile(jobId, "./src//App.tsx", "export {}")).toEqual({ path: "src/App.tsx", size: 9 });
    await storage.writeFile(jobId, "README.md", new Uint8Array([1, 2, 3]));
    expect(await storage.readFile(jobId, "src/App.tsx", "utf8")).toBe("export {}");
    expect(await storage.readFile(jobId, "README.md")).toEqual(Buffer.from([1, 2, 3]));
    const listed = await storage.listFiles(jobId);
    expect(listed.map(({ path: p, name, size }) => ({ p, name, size }))).toEqual([
      { p: "README.md", name: "README.md", size: 3 },
      { p: "src/App.tsx", name: "App.tsx", size: 9 },
    ]);
    expect(listed[0]!.modified).toBeInstanceOf(Date);
    expect(await storage.getJob(jobId)).toMatchObject({ filesCount: 2, totalSizeBytes: 12 });

    // An overwrite changes the total by the difference and the count not at all.
    await storage.writeFile(jobId, "src/App.tsx", "x".repeat(100));
    expect(await storage.getJob(jobId)).toMatchObject({ filesCount: 2, totalSizeBytes: 103 });
    await storage.writeFile(jobId, "src/App.tsx", "y");
    expect(await storage.getJob(jobId)).toMatchObject({ filesCount: 2, totalSizeBytes: 4 });

    expect(await storage.deleteFile(jobId, "src/App.tsx")).toBe(true);
    expect(await storage.deleteFile(jobId, "src/App.tsx")).toBe(false);
    expect(await storage.getJob(jobId)).toMatchObject({ filesCount: 1, totalSizeBytes: 3 });
    await rejectsWith(storage.readFile(jobId, "src/App.tsx"), "FILE_NOT_FOUND");
  });

  it("keeps internal state apart: plan.json, .job_metadata.json and job.json are ordinary files", async () => {
    const { storage } = await openStorage();
    const { jobId } = await storage.createJob({ projectName: "p" });
    await storage.writePlan(jobId, { tasks: [{ name: "Setup", files: ["plan.json"] }], metadata: { framework: "react" } });
    const names = ["plan.json", ".job_metadata.json", "job.json", "job.json.next", "lock", "tmp/x", "files/y", ".gitignore", ".env.example", ".github/workflows/ci.yml"];
    const result = await storage.writeFiles(
      jobId,
      names.map((name) => ({ path: name, content: `content of ${name}` })),
    );
    expect(result).toMatchObject({ total: names.length, success: names.length, failed: 0 });
    for (const name of names) expect(await storage.readFile(jobId, name, "utf8")).toBe(`content of ${name}`);
    expect(await storage.readPlan(jobId)).toEqual({ tasks: [{ name: "Setup", files: ["plan.json"] }], metadata: { framework: "react" } });
    expect((await storage.listFiles(jobId)).map((f) => f.path)).toEqual([...names].sort());
    const job = await storage.getJob(jobId);
    expect(job).toMatchObject({ status: "generating", filesCount: names.length });
  });

  it("rejects hostile paths with INVALID_PATH and writes nothing", async () => {
    const { storage, basePath } = await openStorage();
    const { jobId } = await storage.createJob({ projectName: "p" });
    for (const bad of ["../escape.txt", "/etc/passwd", "a\\b", "C:\\x", "con.txt", "a/../b", "dir/"]) {
      await rejectsWith(storage.writeFile(jobId, bad, "x"), "INVALID_PATH");
    }
    expect(await storage.listFiles(jobId)).toEqual([]);
    expect((await fs.readdir(basePath)).sort()).toEqual([".index", ".tmp", jobId]);
  });

  it("reports partial success in a batch", async () => {
    const { storage } = await openStorage({ maxFileSizeBytes: 10 });
    const { jobId } = await storage.createJob({ projectName: "p" });
    const result = await storage.writeFiles(jobId, [
      { path: "ok.txt", content: "fine" },
      { path: "../bad.txt", content: "x" },
      { path: "big.txt", content: "x".repeat(11) },
      { path: "ok2.txt", content: "fine too" },
    ]);
    expect(result).toEqual({
      total: 4,
      success: 2,
      failed: 2,
      results: [
        { path: "ok.txt", success: true, size: 4 },
        { path: "../bad.txt", success: false, error: { code: "INVALID_PATH", message: expect.any(String) } },
        { path: "big.txt", success: false, error: { code: "FILE_TOO_LARGE", message: expect.any(String) } },
        { path: "ok2.txt", success: true, size: 8 },
      ],
    });
    const tooBig = await rejectsWith(storage.writeFile(jobId, "big.txt", "x".repeat(11)), "FILE_TOO_LARGE");
    expect(tooBig.limit).toBe(10);
    expect(await storage.getJob(jobId)).toMatchObject({ filesCount: 2, totalSizeBytes: 12 });
  });

  it("the last of two writes to one path in a batch wins, counted once", async () => {
    const { storage } = await openStorage();
    const { jobId } = await storage.createJob({ projectName: "p" });
    await storage.writeFiles(jobId, [
      { path: "a.txt", content: "first" },
      { path: "a.txt", content: "second!" },
    ]);
    expect(await storage.readFile(jobId, "a.txt", "utf8")).toBe("second!");
    expect(await storage.getJob(jobId)).toMatchObject({ filesCount: 1, totalSizeBytes: 7 });
  });

  it("keeps exact counts and never exceeds the project limit under 200 concurrent writes", async () => {
    const { storage } = await openStorage({ maxProjectSizeBytes: 100 * 50 });
    const { jobId } = await storage.createJob({ projectName: "p" });
    // 200 writes of 100 bytes to 120 distinct paths (80 overwrites): at most 50 files fit.
    const writes = Array.from({ length: 200 }, (_, i) =>
      storage.writeFile(jobId, `dir${i % 7}/file-${i % 120}.txt`, String(i).padStart(100, "0")).then(
        () => "ok",
        (error: unknown) => (error as JobStorageError).code,
      ),
    );
    const outcomes = await Promise.all(writes);
    expect(new Set(outcomes)).toEqual(new Set(["ok", "PROJECT_TOO_LARGE"]));
    const files = await storage.listFiles(jobId);
    const job = (await storage.getJob(jobId))!;
    expect(job.filesCount).toBe(files.length);
    expect(job.totalSizeBytes).toBe(files.reduce((sum, f) => sum + f.size, 0));
    expect(job.totalSizeBytes).toBeLessThanOrEqual(100 * 50);
    expect(files.length).toBe(50);
  });

  it("refuses a write that would pass the project limit, naming the limit", async () => {
    const { storage } = await openStorage({ maxProjectSizeBytes: 10 });
    const { jobId } = await storage.createJob({ projectName: "p" });
    await storage.writeFile(jobId, "a.txt", "12345678");
    const error = await rejectsWith(storage.writeFile(jobId, "b.txt", "123"), "PROJECT_TOO_LARGE");
    expect(error.limit).toBe(10);
    // An overwrite that shrinks is fine, and then the other file fits.
    await storage.writeFile(jobId, "a.txt", "1");
    await storage.writeFile(jobId, "b.txt", "123");
    expect(await storage.getJob(jobId)).toMatchObject({ filesCount: 2, totalSizeBytes: 4 });
  });

  it("keeps mode 0755 for executable files", async () => {
    const { storage, basePath } = await openStorage();
    const { jobId } = await storage.createJob({ projectName: "p" });
    await storage.writeFile(jobId, "bin/run.sh", "echo hi", { executable: true });
    await storage.writeFile(jobId, "plain.txt", "x");
    const mode = (file: string) => fs.stat(path.join(basePath, jobId, "files", file)).then((s) => s.mode & 0o777);
    expect(await mode("bin/run.sh")).toBe(0o755);
    expect(await mode("plain.txt")).toBe(0o644);
  });

  it("refuses a path where a file stands in for a directory, or a directory for a file", async () => {
    const { storage } = await openStorage();
    const { jobId } = await storage.createJob({ projectName: "p" });
    await storage.writeFile(jobId, "a.ts", "x");
    await rejectsWith(storage.writeFile(jobId, "a.ts/b.ts", "x"), "INVALID_PATH");
    await storage.writeFile(jobId, "dir/b.ts", "x");
    await rejectsWith(storage.writeFile(jobId, "dir", "x"), "INVALID_PATH");
    expect(await storage.getJob(jobId)).toMatchObject({ filesCount: 2, totalSizeBytes: 2 });
  });
});

describe("symbolic links inside a job", () => {
  async function plantLinks() {
    const { storage, basePath } = await openStorage();
    const outside = await tempDir("ej-outside-");
    await fs.writeFile(path.join(outside, "secret.txt"), "secret");
    const { jobId } = await storage.createJob({ projectName: "p" });
    await storage.writeFile(jobId, "real.txt", "real");
    const files = path.join(basePath, jobId, "files");
    await fs.symlink(outside, path.join(files, "linkdir"));
    await fs.symlink(path.join(outside, "secret.txt"), path.join(files, "link.txt"));
    return { storage, jobId, outside };
  }

  it("never writes through a link out of the job", async () => {
    const { storage, jobId, outside } = await plantLinks();
    await rejectsWith(storage.writeFile(jobId, "linkdir/new.txt", "x"), "INVALID_PATH");
    await rejectsWith(storage.writeFile(jobId, "linkdir/deeper/new.txt", "x"), "INVALID_PATH");
    // Writing at the link's own path replaces the link, not the file it points to.
    await storage.writeFile(jobId, "link.txt", "replaced");
    expect(await fs.readFile(path.join(outside, "secret.txt"), "utf8")).toBe("secret");
    expect((await fs.readdir(outside)).sort()).toEqual(["secret.txt"]);
    expect(await storage.readFile(jobId, "link.txt", "utf8")).toBe("replaced");
  });

  it("never reads, lists, deletes or zips through a link", async () => {
    const { storage, jobId, outside } = await plantLinks();
    await rejectsWith(storage.readFile(jobId, "link.txt"), "FILE_NOT_FOUND");
    await rejectsWith(storage.readFile(jobId, "linkdir/secret.txt"), "FILE_NOT_FOUND");
    expect((await storage.listFiles(jobId)).map((f) => f.path)).toEqual(["real.txt"]);
    expect(await storage.deleteFile(jobId, "linkdir/secret.txt")).toBe(false);
    expect(await storage.deleteFile(jobId, "link.txt")).toBe(false);
    expect(await fs.readFile(path.join(outside, "secret.txt"), "utf8")).toBe("secret");
    await storage.completeJob(jobId);
    const { path: zipPath, stream } = await storage.openZip(jobId);
    stream.destroy();
    const listing = execFileSync("unzip", ["-Z1", zipPath], { encoding: "utf8" });
    expect(listing.trim().split("\n")).toEqual(["real.txt"]);
  });
});

describe("states", () => {
  it("refuses writes to complete and failed jobs with INVALID_STATE", async () => {
    const { storage } = await openStorage();
    const done = await storage.createJob({ projectName: "p" });
    await storage.writeFile(done.jobId, "a.txt", "x");
    await storage.completeJob(done.jobId);
    const failed = await storage.createJob({ projectName: "q" });
    await storage.failJob(failed.jobId, "generation failed");
    expect(await storage.getJob(failed.jobId)).toMatchObject({ status: "failed", errorMessage: "generation failed" });
    for (const { jobId } of [done, failed]) {
      await rejectsWith(storage.writeFile(jobId, "b.txt", "x"), "INVALID_STATE");
      await rejectsWith(storage.writeFiles(jobId, [{ path: "b.txt", content: "x" }]), "INVALID_STATE");
      await rejectsWith(storage.deleteFile(jobId, "a.txt"), "INVALID_STATE");
      await rejectsWith(storage.writePlan(jobId, { tasks: [] }), "INVALID_STATE");
    }
    await rejectsWith(storage.completeJob(failed.jobId), "INVALID_STATE");
    await rejectsWith(storage.failJob(done.jobId, "late"), "INVALID_STATE");
    await rejectsWith(storage.openZip(failed.jobId), "ZIP_NOT_READY");
    expect(await storage.getJob(done.jobId)).toMatchObject({ filesCount: 1, totalSizeBytes: 1 });
  });

  it("reads a job past expiresAt as expired and refuses writes before any cleanup", async () => {
    const clock = fakeClock();
    const { storage } = await openStorage({ now: clock.now, expiryHours: 48 });
    const { jobId } = await storage.createJob({ projectName: "p" });
    await storage.writeFile(jobId, "a.txt", "x");
    clock.advanceHours(47);
    await storage.extendJob(jobId, 10); // a user who keeps working keeps the job
    clock.advanceHours(9);
    expect((await storage.getJob(jobId))!.status).toBe("generating");
    clock.advanceHours(1);
    expect((await storage.getJob(jobId))!.status).toBe("expired");
    await rejectsWith(storage.writeFile(jobId, "b.txt", "x"), "JOB_EXPIRED");
    await rejectsWith(storage.deleteFile(jobId, "a.txt"), "JOB_EXPIRED");
    await rejectsWith(storage.completeJob(jobId), "JOB_EXPIRED");
    await rejectsWith(storage.extendJob(jobId, 1), "JOB_EXPIRED");
    expect(await storage.listJobs({ status: "expired" })).toHaveLength(1);
  });
});

describe("ZIP", () => {
  it("builds one ZIP, shared by concurrent completeJob and openZip calls", async () => {
    const { storage } = await openStorage({ downloadUrl: (id) => `/api/v1/jobs/${id}/download` });
    const { jobId } = await storage.createJob({ projectName: 'my "app"' });
    await storage.writeFiles(jobId, [
      { path: ".gitignore", content: "node_modules\n" },
      { path: "src/index.ts", content: "console.log(1)\n" },
    ]);
    await storage.writePlan(jobId, { tasks: [{ name: "t", files: ["src/index.ts"] }] });
    const progress: number[] = [];
    storage.on("zip:progress", ({ progress: p }) => progress.push(p.entries));
    await rejectsWith(storage.openZip(jobId), "ZIP_NOT_READY");
    const [a, b, zip] = await Promise.all([storage.completeJob(jobId), storage.completeJob(jobId), storage.completeJob(jobId).then(() => storage.openZip(jobId))]);
    expect(a).toEqual(b);
    expect(a).toMatchObject({ status: "complete", zipReady: true, downloadUrl: `/api/v1/jobs/${jobId}/download` });
    expect(a.zipSizeBytes).toBe(zip.size);
    expect(progress).toEqual([1, 2]);
    expect(zip.fileName).toBe('my "app".zip');
    const chunks: Buffer[] = [];
    for await (const chunk of zip.stream) chunks.push(chunk as Buffer);
    expect(Buffer.concat(chunks).length).toBe(zip.size);
    const names = execFileSync("unzip", ["-Z1", zip.path], { encoding: "utf8" }).trim().split("\n");
    expect(names).toEqual([".gitignore", "src/index.ts"]);
    // Completing again returns the same ZIP without rebuilding.
    const before = (await fs.stat(zip.path)).mtimeMs;
    await storage.completeJob(jobId);
    expect((await fs.stat(zip.path)).mtimeMs).toBe(before);
  });

  it("stores the uploader's URL, and leaves s3Url alone when the upload fails", async () => {
    const { storage } = await openStorage();
    const { jobId } = await storage.createJob({ projectName: "p" });
    await storage.writeFile(jobId, "a.txt", "x");
    await storage.completeJob(jobId);
    await expect(
      storage.uploadZip(jobId, {
        upload: async () => {
          throw new Error("endpoint unreachable");
        },
      }),
    ).rejects.toThrow("endpoint unreachable");
    expect((await storage.getJob(jobId))!.s3Url).toBeUndefined();
    let received = 0;
    const job = await storage.uploadZip(jobId, {
      upload: async ({ stream, size, contentType, fileName }) => {
        for await (const chunk of stream) received += (chunk as Buffer).length;
        expect(received).toBe(size);
        expect(contentType).toBe("application/zip");
        return { url: `s3://bucket/${fileName}` };
      },
    });
    expect(job.s3Url).toBe("s3://bucket/p.zip");
    expect((await storage.getJob(jobId))!.s3Url).toBe("s3://bucket/p.zip");
  });
});

describe("delete, stats and cleanup", () => {
  it("deletes a job and its ZIP, or keeps the ZIP", async () => {
    const { storage, basePath } = await openStorage();
    const a = await storage.createJob({ projectName: "a" });
    const b = await storage.createJob({ projectName: "b" });
    for (const { jobId } of [a, b]) {
      await storage.writeFile(jobId, "x.txt", "x");
      await storage.completeJob(jobId);
    }
    expect(await storage.deleteJob(a.jobId)).toBe(true);
    expect(await storage.deleteJob(b.jobId, { keepZip: true })).toBe(true);
    expect(await storage.deleteJob(a.jobId)).toBe(false);
    expect((await fs.readdir(basePath)).sort()).toEqual([".index", ".tmp", `${b.jobId}.zip`]);
    expect(await fs.readdir(path.join(basePath, ".tmp"))).toEqual([]);
  });

  it("reports stats from metadata, including ZIPs and internal state", async () => {
    const clock = fakeClock();
    const { storage, basePath } = await openStorage({ now: clock.now });
    const a = await storage.createJob({ projectName: "a" });
    await storage.writeFiles(a.jobId, [
      { path: "x.txt", content: "x".repeat(1000) },
      { path: "y.txt", content: "y".repeat(500) },
    ]);
    const b = await storage.createJob({ projectName: "b" });
    await storage.writeFile(b.jobId, "z.txt", "z");
    await storage.completeJob(b.jobId);
    const stats = await storage.getStats();
    // Every file but the per-process owner locks (.index/owners/), which getStats leaves out.
    const du = Number(execFileSync("find", [basePath, "-path", path.join(basePath, ".index", "owners"), "-prune", "-o", "-type", "f", "-printf", "%s\\n"], { encoding: "utf8" }).trim().split("\n").reduce((s, n) => s + Number(n), 0));
    expect(stats).toMatchObject({
      basePath,
      jobCount: 2,
      fileCount: 3,
      expiryHours: 48,
      jobsByStatus: { generating: 1, complete: 1, failed: 0, expired: 0 },
    });
    expect(stats.totalSizeBytes).toBe(du);
    expect(stats.totalSizeMb).toBe(Math.round((du / 1048576) * 100) / 100);
    expect(stats.diskFreeBytes).toBeGreaterThan(0);
  });

  it("cleans up expired jobs at expiresAt, with a dry run first", async () => {
    const clock = fakeClock();
    const { storage, basePath } = await openStorage({ now: clock.now });
    const old = await storage.createJob({ projectName: "old", ttlHours: 1 });
    await storage.writeFile(old.jobId, "a.txt", "x".repeat(100));
    await storage.completeJob(old.jobId);
    const young = await storage.createJob({ projectName: "young" });
    const expired: JobStorageEvents["job:expired"][0][] = [];
    storage.on("job:expired", (event) => expired.push(event));
    clock.advanceHours(2);
    const preview = await storage.cleanupExpired({ dryRun: true });
    expect(preview.cleanedJobs).toEqual([old.jobId]);
    expect(preview.freedBytes).toBeGreaterThan(100);
    expect(await storage.getJob(old.jobId)).toBeDefined();
    const result = await storage.cleanupExpired();
    expect(result).toEqual(preview);
    expect(expired).toEqual([{ jobId: old.jobId, freedBytes: preview.freedBytes }]);
    expect(await storage.getJob(old.jobId)).toBeUndefined();
    expect(await storage.getJob(young.jobId)).toBeDefined();
    expect((await fs.readdir(basePath)).sort()).toEqual([".index", ".tmp", young.jobId]);
  });

  it("removes leftovers once over an hour old by the injected clock, never fresh ones", async () => {
    const clock = fakeClock(new Date());
    const { storage, basePath } = await openStorage({ now: clock.now });
    const { jobId } = await storage.createJob({ projectName: "p" });
    await storage.writeFile(jobId, "kept.txt", "kept");
    // Debris of a killed process: a temp file in the job, a half-built ZIP, a half-made job, a stray job dir.
    await fs.writeFile(path.join(basePath, jobId, "tmp", "dead.tmp"), "12345");
    await fs.writeFile(path.join(basePath, `${jobId}.zip.0123456789abcdef.tmp`), "zip");
    await fs.mkdir(path.join(basePath, ".tmp", "new-123", "files"), { recursive: true });
    await fs.mkdir(path.join(basePath, "stray-dir", "files"), { recursive: true });
    // Things the library did not make are never touched, however old.
    await fs.mkdir(path.join(basePath, "Documents"));
    await fs.writeFile(path.join(basePath, "Documents", "cv.txt"), "mine");
    await fs.writeFile(path.join(basePath, "notes.tmp"), "mine too");
    const keptZip = path.join(basePath, "gone-job.zip");
    await fs.writeFile(keptZip, "kept zip");
    expect((await storage.cleanupExpired()).freedBytes).toBe(0);
    expect(await fs.readdir(path.join(basePath, jobId, "tmp"))).toEqual(["dead.tmp"]);
    clock.advanceHours(2);
    const result = await storage.cleanupExpired();
    expect(result.cleanedJobs).toEqual([]);
    expect(result.freedBytes).toBe(5 + 3);
    expect((await fs.readdir(basePath)).sort()).toEqual([".index", ".tmp", "Documents", jobId, "gone-job.zip", "notes.tmp"].sort());
    expect(await fs.readdir(path.join(basePath, jobId, "tmp"))).toEqual([]);
    clock.advanceHours(48);
    await storage.cleanupExpired();
    expect((await fs.readdir(basePath)).sort()).toEqual([".index", ".tmp", "Documents", "notes.tmp"]);
    expect(await fs.readFile(path.join(basePath, "Documents", "cv.txt"), "utf8")).toBe("mine");
  });
});

describe("lifecycle", () => {
  it("validates options, naming the option", async () => {
    await expect(JobStorageManager.open({ expiryHours: -1 })).rejects.toThrow(/expiryHours/);
    await expect(JobStorageManager.open({ maxFileSizeBytes: 1.5 })).rejects.toThrow(/maxFileSizeBytes/);
    // @ts-expect-error a wrong type on purpose
    await expect(JobStorageManager.open({ now: "yesterday" })).rejects.toThrow(/"now" must be a function/);
  });

  it("close() waits for work in flight, is idempotent, and refuses later calls", async () => {
    const { storage } = await openStorage();
    const { jobId } = await storage.createJob({ projectName: "p" });
    const write = storage.writeFiles(jobId, Array.from({ length: 50 }, (_, i) => ({ path: `f${i}.txt`, content: "x" })));
    await Promise.all([storage.close(), storage.close()]);
    expect((await write).success).toBe(50);
    await rejectsWith(storage.createJob({ projectName: "q" }), "INVALID_STATE");
  });

  it("emits typed events", async () => {
    const { storage } = await openStorage();
    const seen: string[] = [];
    for (const name of ["job:created", "job:completed", "job:failed", "job:deleted"] as const) {
      storage.on(name, (event: { jobId: string }) => seen.push(`${name} ${event.jobId}`));
    }
    const a = await storage.createJob({ projectName: "a", jobId: "a" });
    await storage.completeJob(a.jobId);
    const b = await storage.createJob({ projectName: "b", jobId: "b" });
    await storage.failJob(b.jobId, "x");
    await storage.deleteJob("b");
    expect(seen).toEqual(["job:created a", "job:completed a", "job:created b", "job:failed b", "job:deleted b"]);
  });
});

describe("hosts' edge cases", () => {
  it("a listener that throws is logged and never fails the operation", async () => {
    const errors: string[] = [];
    const logger = { debug() {}, info() {}, warn() {}, error: (_: object, msg?: string) => void errors.push(msg ?? "") };
    const { storage } = await openStorage({ logger });
    storage.on("job:created", () => {
      throw new Error("listener bug");
    });
    storage.on("zip:progress", () => {
      throw new Error("listener bug");
    });
    const job = await storage.createJob({ projectName: "p" });
    await storage.writeFile(job.jobId, "a.txt", "x");
    expect((await storage.completeJob(job.jobId)).zipReady).toBe(true);
    expect(errors).toEqual(["an event listener threw", "an event listener threw"]);
  });

  it("every caller of a shared ZIP build hears its progress", async () => {
    const { storage } = await openStorage();
    const { jobId } = await storage.createJob({ projectName: "p" });
    await storage.writeFiles(jobId, [
      { path: "a.txt", content: "a" },
      { path: "b.txt", content: "b" },
    ]);
    const first: number[] = [];
    const second: number[] = [];
    await Promise.all([
      storage.completeJob(jobId, { onProgress: (p) => first.push(p.entries) }),
      storage.completeJob(jobId, { onProgress: (p) => second.push(p.entries) }),
    ]);
    expect(first).toEqual([1, 2]);
    expect(second).toEqual([1, 2]);
  });

  it("sees another manager's extend and re-create on the same base path", async () => {
    const clock = fakeClock();
    const { storage: a, basePath } = await openStorage({ now: clock.now });
    const { storage: b } = await openStorage({ now: clock.now, basePath });
    await a.createJob({ projectName: "x", jobId: "j1", ttlHours: 1 });
    await a.listJobs();
    await b.extendJob("j1", 10);
    clock.advanceHours(2);
    expect(await a.writeFile("j1", "a.txt", "x")).toEqual({ path: "a.txt", size: 1 });
    await a.createJob({ projectName: "y", jobId: "j2" });
    await a.completeJob("j2");
    await a.listJobs();
    await b.deleteJob("j2");
    await b.createJob({ projectName: "y", jobId: "j2" });
    expect(await a.writeFile("j2", "b.txt", "yy")).toEqual({ path: "b.txt", size: 2 });
    expect(await b.getJob("j2")).toMatchObject({ status: "generating", filesCount: 1, totalSizeBytes: 2 });
  });
});
