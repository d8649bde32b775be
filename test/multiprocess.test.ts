/**
 * Several processes on one base path (SPEC §2, "Several processes, one base
 * path"): real child processes, writing to one job at once.
 */
import fs from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { JobStorageManager, manualScheduler } from "../src/index.js";
import { makeContent } from "./fixtures/content.js";
import { startChild } from "./fixtures/children.js";
import { filesBelow, readJobFromDisk, unzipTest, zipFileEntries } from "./fixtures/verify.js";
import { tempDir } from "./helpers/temp.js";


interface WriterReport {
  proc: string;
  seen: string[];
  jobCount: number;
  siblingJob: string;
  siblingSeenAs: string | undefined;
  acknowledged: string[];
  tooLarge: number;
  deleted: number;
}

async function openFresh(basePath: string, maxProjectSizeBytes: number): Promise<JobStorageManager> {
  return JobStorageManager.open({ basePath, scheduler: manualScheduler(), maxProjectSizeBytes });
}

describe("several processes on one base path", () => {
  // The limit is about a third of what the processes try to store: it is hit partway.
  it.each([
    [4, 60, 300_000],
    [8, 500, 2_000_000],
  ])("keep one shared job exact under concurrent writes, overwrites, deletes and the project limit (%i processes x %i writes)", async (PROCESSES, FILES_PER_PROCESS, MAX_PROJECT_BYTES) => {
    const basePath = await tempDir("ej-mp-");
    const setup = await openFresh(basePath, MAX_PROJECT_BYTES);
    const shared = await setup.createJob({ projectName: "shared", jobId: "shared-job" });
    await setup.close();

    const ownJobs = Array.from({ length: PROCESSES }, (_, i) => `writer-${i}`);
    const allJobs = [shared.jobId, ...ownJobs].join(",");
    // Every child runs to its end (none outlives the test), then each must have succeeded.
    const results = await Promise.all(
      ownJobs.map(
        (ownJob, i) =>
          startChild("mp-writer", [basePath, shared.jobId, ownJob, allJobs, String(i), String(1000 + i), String(MAX_PROJECT_BYTES), String(FILES_PER_PROCESS)]).exited,
      ),
    );
    for (const result of results) expect(result.code, result.stderr).toBe(0);
    const reports = results.map((result) => JSON.parse(result.stdout.trim().split("\n").at(-1)!) as WriterReport);

    // Each process saw the others' jobs.
    for (const report of reports) {
      expect(report.seen.sort()).toEqual([shared.jobId, ...ownJobs].sort());
      expect(report.jobCount).toBe(PROCESSES + 1);
      expect(report.siblingSeenAs).toBe(`writer ${report.siblingJob.slice("writer-".length)}`);
    }
    // The limit was reached partway, and plenty was stored before it.
    const tooLarge = reports.reduce((sum, report) => sum + report.tooLarge, 0);
    const acknowledged = new Set(reports.flatMap((report) => report.acknowledged));
    expect(tooLarge).toBeGreaterThan(0);
    expect(acknowledged.size).toBeGreaterThan(20);

    const storage = await openFresh(basePath, MAX_PROJECT_BYTES);
    try {
      const job = (await storage.getJob(shared.jobId))!;
      const disk = await readJobFromDisk(storage, shared.jobId);
      expect(disk.broken).toEqual([]);
      expect(job.filesCount).toBe(disk.filesCount);
      expect(job.totalSizeBytes).toBe(disk.totalSizeBytes);
      expect(job.totalSizeBytes).toBeLessThanOrEqual(MAX_PROJECT_BYTES);
      expect(disk.filesCount).toBeGreaterThan(0);
      // Every file holds one acknowledged write to that very path.
      for (const [filePath, tag] of disk.tags) {
        expect(tag.startsWith(`${filePath}@`), `${filePath} holds ${tag}`).toBe(true);
        expect(acknowledged.has(tag), `${filePath} holds ${tag}, never acknowledged`).toBe(true);
      }
      // Shared paths were written by more than one process.
      const sharedWriters = new Set(
        [...acknowledged].filter((tag) => tag.startsWith("shared/")).map((tag) => tag.split("@")[1]!.split("#")[0]),
      );
      expect(sharedWriters.size).toBeGreaterThan(1);
      // Nothing in flight, no lock and no temporary file left behind.
      const jobDir = path.join(basePath, shared.jobId);
      expect((await fs.readdir(jobDir)).sort()).toEqual(["files", "job.json", "tmp"]);
      expect(await filesBelow(path.join(jobDir, "tmp"))).toEqual([]);
      const stats = await storage.getStats();
      expect(stats.jobCount).toBe(PROCESSES + 1);
      expect(stats.fileCount).toBe(disk.filesCount);
    } finally {
      await storage.close();
    }
  }, 240_000);

  it("two processes completing and downloading one job at once both get the whole ZIP", async () => {
    const basePath = await tempDir("ej-mp-zip-");
    const setup = await JobStorageManager.open({ basePath, scheduler: manualScheduler() });
    const { jobId } = await setup.createJob({ projectName: "zip race" });
    const written = new Map<string, Buffer>();
    for (let i = 0; i < 120; i += 1) {
      const filePath = `src/module${i % 7}/file${i}.ts`;
      written.set(filePath, makeContent(`${filePath}@parent#${i}`, 2000 + i * 97));
    }
    written.set(".gitignore", makeContent(".gitignore@parent#x", 30));
    const result = await setup.writeFiles(jobId, [...written].map(([filePath, content]) => ({ path: filePath, content })));
    expect(result.failed).toBe(0);
    await setup.close();

    const goFile = path.join(basePath, "..", `${path.basename(basePath)}-go`);
    const outs = [0, 1].map((i) => path.join(basePath, "..", `${path.basename(basePath)}-download-${i}.zip`));
    const children = outs.map((out) => startChild("mp-zipper", [basePath, jobId, out, goFile]));
    try {
      await Promise.all(children.map((child) => child.waitForLine("ready")));
      await fs.writeFile(goFile, "go");
      const exits = await Promise.all(children.map((child) => child.exited));
      for (const exit of exits) expect(exit.code, exit.stderr).toBe(0);
      const reports = exits.map((exit) => JSON.parse(exit.stdout.trim().split("\n").at(-1)!) as { size: number; completed: { zipReady: boolean; zipSizeBytes: number } });

      const storage = await JobStorageManager.open({ basePath, scheduler: manualScheduler() });
      try {
        const job = (await storage.getJob(jobId))!;
        expect(job).toMatchObject({ status: "complete", zipReady: true, filesCount: written.size });
        for (const [i, out] of outs.entries()) {
          expect(reports[i]!.completed.zipReady).toBe(true);
          expect((await fs.stat(out)).size).toBe(reports[i]!.size);
          expect(reports[i]!.size).toBe(job.zipSizeBytes);
          await unzipTest(out);
          const entries = await zipFileEntries(out);
          expect([...entries.keys()].sort()).toEqual((await storage.listFiles(jobId)).map((file) => file.path));
          for (const [filePath, content] of written) expect(entries.get(filePath)?.equals(content), filePath).toBe(true);
        }
        // One build: no second ZIP, no temporary ZIP left at the base.
        expect((await fs.readdir(basePath)).sort()).toEqual([".index", ".tmp", jobId, `${jobId}.zip`].sort());
      } finally {
        await storage.close();
      }
    } finally {
      for (const child of children) {
        if (child.child.exitCode === null) child.child.kill("SIGKILL");
        await child.exited;
      }
      await fs.rm(goFile, { force: true });
      for (const out of outs) await fs.rm(out, { force: true });
    }
  });
});
