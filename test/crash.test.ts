/**
 * Crash safety (SPEC §2, "Crash-safe"): a child process working the base path
 * is killed with SIGKILL at seeded random moments, again and again on the same
 * base path; after each kill, the next `open()` must recover everything.
 *
 * Time: a kill that lands while the child holds a job's lock leaves that lock
 * behind, and the recovering `open()` can take it over only once it is stale,
 * that is `lockStaleMs` after the dead holder last refreshed it. The test uses
 * proper-lockfile's minimum, 2000 ms, so such a round waits up to about 2 s.
 */
import fs from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { JobStorageManager, manualScheduler, type JobStorageOptions } from "../src/index.js";
import { rng } from "./fixtures/content.js";
import { startChild } from "./fixtures/children.js";
import { filesBelow, readJobFromDisk, unzipTest, zipFileEntries } from "./fixtures/verify.js";
import { tempDir } from "./helpers/temp.js";

const ROUNDS = 15;
const LOCK_STALE_MS = 2000;
const HOUR_MS = 3_600_000;

function openRecovering(basePath: string, now?: () => Date): Promise<JobStorageManager> {
  const options: JobStorageOptions & { lockStaleMs: number } = {
    basePath,
    scheduler: manualScheduler(),
    lockStaleMs: LOCK_STALE_MS,
    ...(now ? { now } : {}),
  };
  return JobStorageManager.open(options);
}

/** Temporary debris: files in any job's tmp/, `*.tmp` at the base, anything in .tmp/. */
async function debris(basePath: string): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await fs.readdir(basePath, { withFileTypes: true })) {
    if (entry.name === ".tmp") {
      found.push(...(await fs.readdir(path.join(basePath, ".tmp"))).map((name) => `.tmp/${name}`));
    } else if (entry.isDirectory()) {
      found.push(...(await filesBelow(path.join(basePath, entry.name, "tmp"))).map((name) => `${entry.name}/tmp/${name}`));
    } else if (entry.name.endsWith(".tmp")) {
      found.push(entry.name);
    }
  }
  return found;
}

/** Everything the spec promises after a recovering open(). */
async function expectRecovered(storage: JobStorageManager, basePath: string, round: number): Promise<{ complete: number }> {
  const jobs = await storage.listJobs();
  let fileCount = 0;
  let complete = 0;
  for (const listed of jobs) {
    const where = `round ${round}, job ${listed.jobId} (${listed.status})`;
    const job = await storage.getJob(listed.jobId);
    expect(job, where).toBeDefined();
    const disk = await readJobFromDisk(storage, listed.jobId);
    expect(disk.broken, where).toEqual([]);
    expect({ filesCount: job!.filesCount, totalSizeBytes: job!.totalSizeBytes }, where).toEqual({
      filesCount: disk.filesCount,
      totalSizeBytes: disk.totalSizeBytes,
    });
    for (const [filePath, tag] of disk.tags) expect(tag.startsWith(`${filePath}@${listed.jobId}#`), `${where}: ${filePath}`).toBe(true);
    await expect(fs.stat(path.join(basePath, listed.jobId, "job.json.next")), where).rejects.toMatchObject({ code: "ENOENT" });
    const plan = await storage.readPlan(listed.jobId);
    if (plan !== undefined) expect(plan.tasks[0]?.files, where).toEqual(["src/index.ts"]);
    fileCount += disk.filesCount;

    if (job!.status === "complete") {
      complete += 1;
      let zipPath = path.join(basePath, `${listed.jobId}.zip`);
      if (!job!.zipReady) {
        // Left complete without its ZIP: the download builds it.
        const handle = await storage.openZip(listed.jobId);
        handle.stream.destroy();
        zipPath = handle.path;
        expect((await storage.getJob(listed.jobId))!.zipReady, where).toBe(true);
      }
      await unzipTest(zipPath);
      const entries = await zipFileEntries(zipPath);
      expect([...entries.keys()].sort(), where).toEqual([...disk.tags.keys()]);
    }
  }
  expect((await storage.getStats()).fileCount).toBe(fileCount);
  return { complete };
}

describe("a process killed at any instant", () => {
  it(`leaves a base path that the next open() recovers (${ROUNDS} SIGKILLs)`, async () => {
    const basePath = await tempDir("ej-crash-");
    const random = rng(20260101);
    let completeSeen = 0;
    for (let round = 0; round < ROUNDS; round += 1) {
      const child = startChild("crash-worker", [basePath, String(round + 1), String(LOCK_STALE_MS)]);
      try {
        await child.waitForLine("ready");
        await new Promise((resolve) => setTimeout(resolve, 20 + Math.floor(random() * 280)));
      } finally {
        child.child.kill("SIGKILL");
      }
      const exit = await child.exited;
      // Killed while still working: it had not failed on its own.
      expect(exit.signal, `round ${round}: ${exit.stderr}`).toBe("SIGKILL");

      const storage = await openRecovering(basePath);
      try {
        completeSeen += (await expectRecovered(storage, basePath, round)).complete;
      } finally {
        await storage.close();
      }
    }
    expect(completeSeen).toBeGreaterThan(0);
    // The kills did leave temporary files behind, so the cleanup below has work to do.
    expect((await debris(basePath)).length).toBeGreaterThan(0);

    // Two hours later (by the injected clock) every temporary leftover goes; the jobs stay.
    const later = new Date(Date.now() + 2 * HOUR_MS);
    const storage = await openRecovering(basePath, () => later);
    try {
      const jobsBefore = (await storage.listJobs()).map((job) => job.jobId);
      const result = await storage.cleanupExpired();
      expect(result.cleanedJobs).toEqual([]);
      expect(await debris(basePath)).toEqual([]);
      expect((await storage.listJobs()).map((job) => job.jobId)).toEqual(jobsBefore);
      await expectRecovered(storage, basePath, ROUNDS);
    } finally {
      await storage.close();
    }
  }, 180_000);
});
