/**
 * Scale: `getStats()` and `listJobs()` on a base path of N jobs of 50 files
 * against N jobs of 1 file (they must not grow with the number of files),
 * `open()` on such a base path, and the heap the manager holds for it.
 */
import fs from "node:fs/promises";
import path from "node:path";
import { JobStorageManager, manualScheduler } from "../../src/index.js";
import { JobIndex } from "../../src/manager/index-db.js";
import type { JobRecord } from "../../src/manager/record.js";
import { setS, textOf } from "../data.js";
import { benchJobId, cloneJob, listTree } from "../jobs.js";
import {
  check,
  interleave,
  progress,
  progressDone,
  ratio,
  runChild,
  summarize,
  time,
  type BenchContext,
  type ScenarioResult,
} from "../lib.js";

interface HeapResult {
  jobCount: number;
  openMs: number;
  heapBeforeBytes: number;
  afterOpenDeltaBytes: number;
  afterUseDeltaBytes: number;
  rssBytes: number;
}

const HOUR_MS = 3_600_000;

/**
 * A base path with `jobs` jobs of `files.length` files: one template job
 * written through the manager, the others cloned from it (files/ hard-linked,
 * a job.json each with its own id, user, status and dates), and their rows
 * put into the index directly with the template's file rows (an adopting
 * open() would hash every cloned file: minutes of set-up for what the
 * scenario does not measure). Returns the seconds it took.
 */
async function buildBase(basePath: string, jobs: number, files: { path: string; content: string }[]): Promise<number> {
  const start = performance.now();
  const templateId = benchJobId("tmpl", 0);
  {
    const storage = await JobStorageManager.open({ basePath, scheduler: manualScheduler() });
    await storage.createJob({ projectName: "scale template", jobId: templateId });
    const result = await storage.writeFiles(templateId, files);
    if (result.success !== files.length) throw new Error("template write failed");
    await storage.close();
  }
  const index = JobIndex.open(path.join(basePath, ".index", "jobs.db"), { fsync: false });
  try {
    const template = index.getJob(templateId)!;
    const templateRows = index.listFiles(templateId);
    const templateFiles = path.join(basePath, templateId, "files");
    const listing = listTree(templateFiles);
    const t0 = Date.now();
    for (let i = 1; i < jobs; i += 1) {
      const createdAt = t0 - i * 10_000; // one job every 10 s: the newest ~28 hours, none expired
      const record: JobRecord = {
        ...template,
        jobId: benchJobId("job", i),
        userId: `user-${i % 100}`,
        projectName: `project ${i}`,
        createdAt: new Date(createdAt).toISOString(),
        expiresAt: new Date(createdAt + 48 * HOUR_MS).toISOString(),
        status: i % 10 === 0 ? "failed" : i % 3 === 0 ? "complete" : "generating",
      };
      if (record.status === "failed") record.errorMessage = "the fixer gave up";
      if (record.status === "complete") {
        record.zipReady = true;
        record.zipSizeBytes = Math.round(template.totalSizeBytes / 3);
      }
      cloneJob(basePath, record, templateRows, templateFiles, listing, "link", index);
      if (i % 500 === 0) progress(`scale: ${path.basename(basePath)} ${i}/${jobs} jobs`);
    }
  } finally {
    index.close();
  }
  return (performance.now() - start) / 1000;
}

export async function scaleScenario(ctx: BenchContext): Promise<ScenarioResult> {
  const { settings } = ctx;
  const jobs = settings.scaleJobs;
  const files = setS(settings.seed).files.map((spec) => ({ path: spec.path, content: textOf(spec) }));
  const root = path.join(ctx.root, "scale");
  const base50 = path.join(root, "jobs-50-files");
  const base1 = path.join(root, "jobs-1-file");
  await fs.mkdir(root, { recursive: true });
  const build50 = await buildBase(base50, jobs, files);
  const build1 = await buildBase(base1, jobs, files.slice(0, 1));

  const rounds = settings.scaleRounds;
  const warmup = settings.warmup;
  const open = (basePath: string, label?: string) => async () => {
    let storage: JobStorageManager | undefined;
    const ms = await time(async () => (storage = await JobStorageManager.open({ basePath, scheduler: manualScheduler() })), label);
    await storage!.close();
    return ms;
  };
  const opened = await interleave(
    [
      { name: "open(), 50 files/job", run: open(base50, "open-50") },
      { name: "open(), 1 file/job", run: open(base1) },
    ],
    { rounds: settings.scaleOpenRounds, warmup, onRound: (r) => progress(`scale: open round ${r + 1}`) },
  );

  const m50 = await JobStorageManager.open({ basePath: base50, scheduler: manualScheduler() });
  const m1 = await JobStorageManager.open({ basePath: base1, scheduler: manualScheduler() });
  let statsCheck = "";
  try {
    const stats50 = await m50.getStats();
    const stats1 = await m1.getStats();
    statsCheck = `getStats: ${stats50.jobCount} jobs / ${stats50.fileCount} files vs ${stats1.jobCount} jobs / ${stats1.fileCount} files`;
    if (stats50.jobCount !== jobs || stats1.jobCount !== jobs) throw new Error(`expected ${jobs} jobs: ${statsCheck}`);
    const stats = await interleave(
      [
        { name: "getStats(), 50 files/job", run: () => time(() => m50.getStats(), "getStats-50") },
        { name: "getStats(), 1 file/job", run: () => time(() => m1.getStats()) },
      ],
      { rounds, warmup, onRound: (r) => progress(`scale: getStats round ${r + 1}`) },
    );
    const lists = await interleave(
      [
        { name: "listJobs(), 50 files/job", run: () => time(() => m50.listJobs(), "listJobs-50") },
        { name: "listJobs(), 1 file/job", run: () => time(() => m1.listJobs()) },
      ],
      { rounds, warmup, onRound: (r) => progress(`scale: listJobs round ${r + 1}`) },
    );
    for (const [name, list] of [...stats, ...lists]) opened.set(name, list);
  } finally {
    await m50.close();
    await m1.close();
  }

  progress("scale: heap (child processes)");
  const heap50 = await runChild<HeapResult>("heap-child.ts", [base50], ["--expose-gc"]);
  const heap1 = await runChild<HeapResult>("heap-child.ts", [base1], ["--expose-gc"]);
  progressDone();

  const s = (name: string, role: "ours" | "baseline") => summarize(name, role, opened.get(name)!);
  const getStats50 = s("getStats(), 50 files/job", "ours");
  const getStats1 = s("getStats(), 1 file/job", "baseline");
  const list50 = s("listJobs(), 50 files/job", "ours");
  const list1 = s("listJobs(), 1 file/job", "baseline");
  const open50 = s("open(), 50 files/job", "ours");
  const open1 = s("open(), 1 file/job", "baseline");
  const MB = 1e6;
  const heapOpen50 = summarize("heap held after open(), 50 files/job", "ours", [heap50.afterOpenDeltaBytes / MB], "MB");
  const heapUse50 = summarize("heap held after open()+listJobs()+getStats()", "ours", [heap50.afterUseDeltaBytes / MB], "MB");
  const heapOpen1 = summarize("heap held after open(), 1 file/job", "reference", [heap1.afterOpenDeltaBytes / MB], "MB");
  const ratios = [ratio(getStats50, getStats1), ratio(list50, list1), ratio(open50, open1)];
  const heldMB = Math.max(heap50.afterOpenDeltaBytes, heap50.afterUseDeltaBytes) / MB;
  return {
    scenario: "scale",
    title: `${jobs} jobs of 50 files (${jobs * 50} files) vs ${jobs} jobs of 1 file; ${rounds} rounds of getStats/listJobs, ${settings.scaleOpenRounds} of open() (+${warmup} warm-up each)`,
    notes: [
      `set-up: one template job per base path written through writeFiles, the other ${jobs - 1} cloned (files/ hard-linked, job.json written with src/manager/record.ts serializeStatusRecord, rows put into the index in one transaction; mixed statuses and users); built in ${build50.toFixed(0)} s and ${build1.toFixed(0)} s.`,
      statsCheck,
      "getStats()/listJobs(): on one long-lived manager per base path (its index is warm, as in a host); open(): a fresh manager each round, closed after.",
      `heap: node --expose-gc child, heapUsed after 4 gc() calls, delta from before open(); ${heap50.jobCount} jobs; open() there took ${heap50.openMs.toFixed(0)} ms; RSS ${(heap50.rssBytes / 2 ** 20).toFixed(0)} MiB.`,
    ],
    summaries: [getStats50, getStats1, list50, list1, open50, open1, heapOpen50, heapUse50, heapOpen1],
    ratios,
    checks: [
      check("getStats() 50 files/job / 1 file/job", ratios[0]!.ratio, "x", "<=", 1.2),
      check("listJobs() 50 files/job / 1 file/job", ratios[1]!.ratio, "x", "<=", 1.2),
      check(`getStats() over ${jobs} jobs`, getStats50.median, "ms", "<=", 20),
      check(`listJobs() over ${jobs} jobs`, list50.median, "ms", "<=", 20),
      check(`open() on ${jobs} jobs`, open50.median, "ms", "<=", 1000),
      check(`heap held for ${jobs} jobs`, heldMB, "MB", "<", 50),
    ],
  };
}
