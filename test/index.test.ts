/**
 * The SQLite index (SPEC §8, "Index"): derived state rebuilt from the job
 * directories, intents of a killed writer settled at once by a live process,
 * a clear error when the native module cannot load, `openZip` right after an
 * unawaited `completeJob`, and the seams tests pass to `open()`.
 */
import { execFile } from "node:child_process";
import Database from "better-sqlite3";
import { createHash, randomBytes } from "node:crypto";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { JobStorageManager, manualScheduler, zipDirectory, type Logger } from "../src/index.js";
import { JobIndex } from "../src/manager/index-db.js";
import { makeContent } from "./fixtures/content.js";
import { startChild } from "./fixtures/children.js";
import { readJobFromDisk, unzipTest, zipFileEntries } from "./fixtures/verify.js";
import { openStorage, tempDir } from "./helpers/temp.js";

const execFileAsync = promisify(execFile);
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

const sha256 = (data: Buffer): string => createHash("sha256").update(data).digest("hex");

/** A logger that keeps what was said. */
function recordingLogger(): Logger & { lines: { level: string; message: string; fields: unknown }[] } {
  const lines: { level: string; message: string; fields: unknown }[] = [];
  const at =
    (level: string) =>
    (fields: unknown, message?: string): void => {
      lines.push({ level, message: message ?? String(fields), fields });
    };
  return { lines, debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
}

/** A base path with three jobs: generating with a plan, complete with its ZIP, failed. */
async function populate(basePath: string): Promise<Map<string, { status: string; files: Map<string, Buffer> }>> {
  const storage = await JobStorageManager.open({ basePath, scheduler: manualScheduler() });
  const jobs = new Map<string, { status: string; files: Map<string, Buffer> }>();
  try {
    for (const [name, status] of [
      ["gen", "generating"],
      ["done", "complete"],
      ["broken", "failed"],
    ] as const) {
      const job = await storage.createJob({ projectName: name, jobId: `job-${name}`, userId: `user-${name}` });
      const files = new Map<string, Buffer>();
      for (let i = 0; i < 12; i += 1) files.set(`src/${name}/f${i}.ts`, makeContent(`src/${name}/f${i}.ts@${job.jobId}`, 500 + i * 37));
      files.set(".gitignore", makeContent(`.gitignore@${job.jobId}`, 10));
      await storage.writeFiles(job.jobId, [...files].map(([p, content]) => ({ path: p, content })));
      await storage.writeFile(job.jobId, "src/overwritten.ts", "first");
      files.set("src/overwritten.ts", makeContent(`src/overwritten.ts@${job.jobId}`, 2000));
      await storage.writeFile(job.jobId, "src/overwritten.ts", files.get("src/overwritten.ts")!);
      await storage.writePlan(job.jobId, { tasks: [{ name: "all", files: [...files.keys()] }] });
      if (status === "complete") await storage.completeJob(job.jobId);
      if (status === "failed") await storage.failJob(job.jobId, "the fixer gave up");
      jobs.set(job.jobId, { status, files });
    }
  } finally {
    await storage.close();
  }
  return jobs;
}

async function expectJobsBack(storage: JobStorageManager, jobs: Awaited<ReturnType<typeof populate>>, indexBefore: unknown): Promise<void> {
  expect((await storage.listJobs()).map((job) => job.jobId).sort()).toEqual([...jobs.keys()].sort());
  for (const [jobId, expected] of jobs) {
    const job = (await storage.getJob(jobId))!;
    expect(job.status, jobId).toBe(expected.status);
    expect(job.filesCount, jobId).toBe(expected.files.size);
    expect(job.totalSizeBytes, jobId).toBe([...expected.files.values()].reduce((sum, content) => sum + content.length, 0));
    const disk = await readJobFromDisk(storage, jobId);
    expect(disk.broken).toEqual([]);
    expect({ filesCount: disk.filesCount, totalSizeBytes: disk.totalSizeBytes }).toEqual({ filesCount: job.filesCount, totalSizeBytes: job.totalSizeBytes });
    expect(job.zipReady, jobId).toBe(expected.status === "complete");
    expect((await storage.readPlan(jobId))?.tasks[0]?.files.length).toBe(expected.files.size);
  }
  // Every field of every job and file, hashes included, as the index had them before.
  expect(await everything(storage, [...jobs.keys()])).toEqual(indexBefore);
}

async function everything(storage: JobStorageManager, jobIds: string[]): Promise<unknown> {
  const out: unknown[] = [];
  for (const jobId of jobIds.sort()) {
    const files = (await storage.listFiles(jobId)).map((file) => ({ ...file, modified: file.modified.getTime() }));
    out.push({ job: await storage.getJob(jobId), files });
  }
  out.push({ stats: { ...(await storage.getStats()), totalSizeBytes: 0, totalSizeMb: 0, diskFreeBytes: 0 } });
  return out;
}

describe("the index is derived state", () => {
  it("is rebuilt from the job directories when the database file is removed", async () => {
    const basePath = await tempDir("ej-index-");
    const jobs = await populate(basePath);
    const before = await (async () => {
      const storage = await JobStorageManager.open({ basePath, scheduler: manualScheduler() });
      try {
        return await everything(storage, [...jobs.keys()]);
      } finally {
        await storage.close();
      }
    })();
    for (const name of await fs.readdir(path.join(basePath, ".index"))) await fs.rm(path.join(basePath, ".index", name), { recursive: true });

    const logger = recordingLogger();
    const { storage } = await openStorage({ basePath, logger });
    await expectJobsBack(storage, jobs, before);
    expect(logger.lines.filter((line) => line.level === "warn").map((line) => line.message)).toContain(
      "the job index was missing: rebuilt it from the job directories",
    );
    // The rebuilt index takes writes and builds ZIPs as before.
    await storage.writeFile("job-gen", "src/after.ts", "export {}");
    const done = await storage.completeJob("job-gen");
    expect(done.filesCount).toBe(jobs.get("job-gen")!.files.size + 1);
    await unzipTest(path.join(basePath, "job-gen.zip"));
  });

  it.each([
    ["truncated to nothing", async (file: string) => fs.truncate(file, 0)],
    ["torn in half", async (file: string) => fs.truncate(file, Math.floor((await fs.stat(file)).size / 2))],
    ["overwritten with garbage", async (file: string) => fs.writeFile(file, Buffer.alloc((await fs.stat(file)).size, 0x5a))],
  ])("is rebuilt when the database file is %s, and a corrupt one is kept aside", async (how, damage) => {
    const basePath = await tempDir("ej-index-");
    const jobs = await populate(basePath);
    const storage0 = await JobStorageManager.open({ basePath, scheduler: manualScheduler() });
    const before = await everything(storage0, [...jobs.keys()]);
    await storage0.close();
    const file = path.join(basePath, ".index", "jobs.db");
    // Closed cleanly, the WAL is folded into the file: the damage reaches every page.
    await expect(fs.stat(`${file}-wal`)).rejects.toMatchObject({ code: "ENOENT" });
    await damage(file);

    const logger = recordingLogger();
    const { storage } = await openStorage({ basePath, logger });
    await expectJobsBack(storage, jobs, before);
    const warnings = logger.lines.filter((line) => line.level === "warn").map((line) => line.message);
    expect(warnings.some((line) => line.startsWith("the job index was"))).toBe(true);
    if (how !== "truncated to nothing") {
      // SQLite found it corrupt: kept for a post-mortem rather than deleted.
      expect((await fs.readdir(path.join(basePath, ".index"))).some((name) => name.startsWith("jobs.db.corrupt-"))).toBe(true);
      expect(warnings).toContain("the job index was corrupt: moved it aside and rebuilt it from the job directories");
    }
  });

  it("drops the rows of a job directory removed behind its back, at the next open()", async () => {
    const basePath = await tempDir("ej-index-");
    const jobs = await populate(basePath);
    await fs.rm(path.join(basePath, "job-broken"), { recursive: true });
    const { storage } = await openStorage({ basePath });
    expect((await storage.listJobs()).map((job) => job.jobId).sort()).toEqual([...jobs.keys()].filter((id) => id !== "job-broken").sort());
    expect((await storage.getStats()).fileCount).toBe(2 * jobs.get("job-gen")!.files.size);
  });

  it("upgrades an index of schema version 1 in place, keeping every job and file", async () => {
    const basePath = await tempDir("ej-index-");
    const jobs = await populate(basePath);
    const storage0 = await JobStorageManager.open({ basePath, scheduler: manualScheduler() });
    const before = await everything(storage0, [...jobs.keys()]);
    await storage0.close();
    // Version 1 as it was: intents had no held bytes and no path indexes.
    const file = path.join(basePath, ".index", "jobs.db");
    const db = new Database(file);
    db.exec("DROP INDEX intents_by_path; DROP INDEX intents_by_from_path; ALTER TABLE intents DROP COLUMN held;");
    db.pragma("user_version = 1");
    db.close();

    const logger = recordingLogger();
    const { storage } = await openStorage({ basePath, logger });
    await expectJobsBack(storage, jobs, before);
    expect(logger.lines.filter((line) => line.level === "warn")).toEqual([]); // upgraded, not rebuilt
    await storage.writeFile("job-gen", "src/after.ts", "export {}");
    await storage.close();
    const upgraded = new Database(file, { readonly: true });
    try {
      expect(upgraded.pragma("user_version", { simple: true })).toBe(2);
      expect(upgraded.prepare("SELECT name FROM pragma_table_info('intents') WHERE name = 'held'").pluck().get()).toBe("held");
    } finally {
      upgraded.close();
    }
  });

  it("refuses an index of a newer schema version with INVALID_STATE, and leaves it as it is", async () => {
    const basePath = await tempDir("ej-index-");
    await populate(basePath);
    const file = path.join(basePath, ".index", "jobs.db");
    const db = new Database(file);
    db.pragma("user_version = 99");
    db.close();
    const bytes = await fs.readFile(file);
    const error = await JobStorageManager.open({ basePath, scheduler: manualScheduler() }).then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(error).toMatchObject({ code: "INVALID_STATE" });
    expect((error as Error).message).toContain("schema version 99; this version of ephemeral-jobs reads version 2");
    expect((await fs.readFile(file)).equals(bytes)).toBe(true);
  });
});

describe("listJobs", () => {
  it("answers from memory while nothing changed, and sees this and another manager's commits at once", async () => {
    const basePath = await tempDir("ej-list-");
    const { storage: a } = await openStorage({ basePath });
    const { storage: b } = await openStorage({ basePath });
    await a.createJob({ projectName: "one", jobId: "one" });
    expect((await a.listJobs()).map((job) => job.jobId)).toEqual(["one"]);
    expect(await a.listJobs()).toEqual(await a.listJobs()); // answered twice without a change
    await b.createJob({ projectName: "two", jobId: "two" });
    expect((await a.listJobs()).map((job) => job.jobId).sort()).toEqual(["one", "two"]);
    await b.failJob("two", "gave up");
    expect((await a.listJobs({ status: "failed" })).map((job) => job.jobId)).toEqual(["two"]);
    await a.writeFile("one", "x.txt", "xyz");
    expect((await b.listJobs({ status: "generating" }))[0]).toMatchObject({ jobId: "one", filesCount: 1, totalSizeBytes: 3 });
    expect(await b.deleteJob("one")).toBe(true);
    expect((await a.listJobs()).map((job) => job.jobId)).toEqual(["two"]);
  });
});

describe("a writer killed in the middle of a batch commit", () => {
  it("leaves intents that a live process settles at its next write, with counts equal to the disk", async () => {
    const basePath = await tempDir("ej-index-kill-");
    const { storage } = await openStorage({ basePath });
    await storage.createJob({ projectName: "killed", jobId: "killed-job" });
    let leftIntents = 0;
    const peek = JobIndex.open(path.join(basePath, ".index", "jobs.db"), { fsync: false });
    try {
      for (let round = 0; round < 6; round += 1) {
        const child = startChild("batch-writer", [basePath, "killed-job", String(round)]);
        try {
          await child.waitForLine("ready");
          // Wait for the event itself: the writer's intents committed (its renames are under way),
          // watched from here without yielding, so the kill lands right after that commit.
          const deadline = Date.now() + 10_000;
          while (peek.foreignIntents("nobody", "killed-job").length === 0 && Date.now() < deadline);
        } finally {
          child.child.kill("SIGKILL");
        }
        expect((await child.exited).signal).toBe("SIGKILL");
        // What the dead writer left: intents of an owner that is gone.
        leftIntents += peek.foreignIntents("nobody", "killed-job").length;

        // The live process writes the same job at once: no lock to wait for, intents settled first.
        const content = makeContent(`src/part0/file0.ts@killed-job#parent-${round}`, 3000);
        await storage.writeFile("killed-job", "src/part0/file0.ts", content);
        const job = (await storage.getJob("killed-job"))!;
        const disk = await readJobFromDisk(storage, "killed-job");
        expect(disk.broken, `round ${round}`).toEqual([]);
        expect({ filesCount: job.filesCount, totalSizeBytes: job.totalSizeBytes }, `round ${round}`).toEqual({
          filesCount: disk.filesCount,
          totalSizeBytes: disk.totalSizeBytes,
        });
        // The index's hash of every file is the hash of what is on disk.
        for (const file of await storage.listFiles("killed-job")) {
          expect(file.sha256, file.path).toBe(sha256(await storage.readFile("killed-job", file.path)));
        }
        expect(disk.tags.get("src/part0/file0.ts")).toBe(`src/part0/file0.ts@killed-job#parent-${round}`);
      }
    } finally {
      peek.close();
    }
    // The kills did land in the middle of commits (not only between batches).
    expect(leftIntents).toBeGreaterThan(0);
  }, 120_000);
});

describe("openZip and completeJob", () => {
  it("openZip right after an unawaited completeJob waits for that build", async () => {
    const { storage } = await openStorage();
    const { jobId } = await storage.createJob({ projectName: "eager" });
    await storage.writeFiles(jobId, [
      { path: "src/index.ts", content: "export const a = 1;\n" },
      { path: "README.md", content: "# eager\n" },
    ]);
    const done = storage.completeJob(jobId);
    const zip = await storage.openZip(jobId);
    zip.stream.destroy();
    expect((await done).zipReady).toBe(true);
    expect(zip.size).toBe((await fs.stat(zip.path)).size);
    expect([...(await zipFileEntries(zip.path)).keys()].sort()).toEqual(["README.md", "src/index.ts"]);
  });

  it("readRange serves a range from the file openZip opened, also once the ZIP is gone from the disk", async () => {
    const { storage } = await openStorage();
    const { jobId } = await storage.createJob({ projectName: "ranges" });
    await storage.writeFiles(jobId, [
      { path: "data.bin", content: randomBytes(40_000) }, // stored: the ZIP is over 40 kB
      { path: "README.md", content: "# ranges\n" },
    ]);
    await storage.completeJob(jobId);
    const whole = await fs.readFile(path.join(storage.basePath, `${jobId}.zip`));
    const readAll = async (stream: NodeJS.ReadableStream): Promise<Buffer> => {
      const chunks: Buffer[] = [];
      for await (const chunk of stream) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks);
    };

    const zip = await storage.openZip(jobId);
    await fs.rm(zip.path); // removed by hand (or by a cleanup) after the open
    expect(await readAll(zip.readRange!(100, 4_099))).toEqual(whole.subarray(100, 4_100));
    // One stream per handle: the whole stream is no longer there to take.
    expect(() => zip.readRange!(0, 9)).toThrow(expect.objectContaining({ code: "INVALID_STATE" }));

    // A range outside the ZIP is INVALID_INPUT, and the handle still serves the whole ZIP.
    const again = await storage.openZip(jobId); // rebuilt, the file having gone
    expect(() => again.readRange!(0, again.size)).toThrow(expect.objectContaining({ code: "INVALID_INPUT" }));
    expect(() => again.readRange!(5, 4)).toThrow(expect.objectContaining({ code: "INVALID_INPUT" }));
    expect((await readAll(again.stream)).length).toBe(again.size);
  });
});

describe("seams", () => {
  it("takes a ZIP builder: a failing one fails completeJob, releases the build, and the next build succeeds", async () => {
    const basePath = await tempDir("ej-seam-");
    let fail = true;
    const storage = await JobStorageManager.open(
      { basePath, scheduler: manualScheduler() },
      {
        zipBuilder: async (dir, out, options) => {
          if (fail) throw Object.assign(new Error("injected"), { code: "EIO" });
          return zipDirectory(dir, out, options);
        },
      },
    );
    try {
      const { jobId } = await storage.createJob({ projectName: "seam" });
      await storage.writeFile(jobId, "a.txt", "a");
      await expect(storage.completeJob(jobId)).rejects.toThrow("injected");
      expect(await storage.getJob(jobId)).toMatchObject({ status: "complete", zipReady: false });
      fail = false;
      expect((await storage.completeJob(jobId)).zipReady).toBe(true);
      await unzipTest(path.join(basePath, `${jobId}.zip`));
    } finally {
      await storage.close();
    }
  });

  /** A manager whose ZIP builds wait at a gate: `building` once one has started, `release()` to go on. */
  async function gatedBuilds(basePath: string): Promise<{ storage: JobStorageManager; building: Promise<void>; release: () => void }> {
    let entered!: () => void;
    const building = new Promise<void>((resolve) => (entered = resolve));
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const storage = await JobStorageManager.open(
      { basePath, scheduler: manualScheduler() },
      {
        zipBuilder: async (dir, out, options) => {
          entered();
          await released; // the test changes the job here
          return zipDirectory(dir, out, options);
        },
      },
    );
    return { storage, building, release };
  }

  it.each([
    [
      "deleted",
      async (storage: JobStorageManager, jobId: string) => expect(await storage.deleteJob(jobId)).toBe(true),
    ],
    [
      // What deleteJob does first: the directory moves out of sight; its row goes after.
      "halfway deleted (its directory gone, its row not yet)",
      (storage: JobStorageManager, jobId: string) => fs.rename(path.join(storage.basePath, jobId), path.join(storage.basePath, ".tmp", "trash-by-hand")),
    ],
  ])("a job %s while its ZIP is being built: completeJob is JOB_NOT_FOUND and no ZIP stays behind", async (_how, remove) => {
    const basePath = await tempDir("ej-seam-");
    const { storage, building, release } = await gatedBuilds(basePath);
    try {
      const { jobId } = await storage.createJob({ projectName: "raced" });
      await storage.writeFile(jobId, "src/a.txt", "a");
      const done = storage.completeJob(jobId);
      await building;
      await remove(storage, jobId);
      release();
      await expect(done).rejects.toMatchObject({ code: "JOB_NOT_FOUND", jobId });
      expect((await fs.readdir(basePath)).sort()).toEqual([".index", ".tmp"]);
    } finally {
      await storage.close();
    }
  });

  it("takes an index opener", async () => {
    const basePath = await tempDir("ej-seam-");
    const opened: string[] = [];
    const storage = await JobStorageManager.open(
      { basePath, scheduler: manualScheduler() },
      {
        openIndex: (file, options) => {
          opened.push(path.relative(basePath, file));
          return JobIndex.open(file, options);
        },
      },
    );
    await storage.close();
    expect(opened).toEqual([path.join(".index", "jobs.db")]);
  });
});

describe("the native module", () => {
  it("open() fails with one clear error when better-sqlite3 cannot load", async () => {
    const basePath = await tempDir("ej-native-");
    const script = `
      import { JobStorageManager, isJobStorageError } from "./src/index.ts";
      try {
        await JobStorageManager.open({ basePath: ${JSON.stringify(basePath)} });
        console.log("opened");
      } catch (error) {
        console.log(JSON.stringify({ storageError: isJobStorageError(error), code: error.code, message: error.message }));
      }`;
    const { stdout } = await execFileAsync(
      process.execPath,
      ["--require", path.join(ROOT, "test/fixtures/no-native-module.cjs"), "--import", "tsx", "--input-type=module", "-e", script],
      { cwd: ROOT },
    );
    const result = JSON.parse(stdout.trim()) as { storageError: boolean; code: string; message: string };
    expect(result.storageError).toBe(true);
    expect(result.code).toBe("INVALID_STATE");
    expect(result.message).toContain("needs the native module better-sqlite3");
    expect(result.message).toContain("NODE_MODULE_VERSION 127");
    expect(result.message).toContain("npm rebuild better-sqlite3");
  });
});

describe("a small disk", () => {
  it("a 4 MiB tmpfs holds jobs: the index keeps its own footprint small", async (context) => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), "ej-small-"));
    try {
      await execFileAsync("mount", ["-t", "tmpfs", "-o", "size=4m", "tmpfs", dir]);
    } catch (error) {
      await fs.rmdir(dir);
      context.skip(`cannot mount a tmpfs here (needs root or CAP_SYS_ADMIN): ${(error as Error).message}`);
    }
    try {
      const storage = await JobStorageManager.open({ basePath: path.join(dir, "jobs"), scheduler: manualScheduler() });
      try {
        let stored = 0;
        for (let j = 0; j < 6; j += 1) {
          const { jobId } = await storage.createJob({ projectName: `small ${j}` });
          for (let i = 0; i < 40; i += 1) stored += (await storage.writeFile(jobId, `src/f${i}.ts`, makeContent(`src/f${i}.ts@${jobId}`, 8000))).size;
        }
        // About 2 MB of files (8 KiB pages each) on a 4 MiB disk, with the index and its WAL beside them.
        expect(stored).toBeGreaterThan(1_900_000);
        const stats = await storage.getStats();
        expect(stats.fileCount).toBe(240);
        // Everything that is not a generated file: the index, WAL, status records, owner lock.
        expect(stats.totalSizeBytes - stored).toBeLessThan(1024 * 1024);
      } finally {
        await storage.close();
      }
    } finally {
      await execFileAsync("umount", ["-l", dir]).catch(() => {});
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});

