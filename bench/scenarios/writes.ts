/**
 * Writes: `writeFiles(jobId, S)` into a fresh job against raw temp-file-plus-
 * rename writes of the same files at concurrency 8; 50 sequential
 * `writeFile` (a writer agent's loop, the guide's `/files` route) against 50
 * sequential raw writes; one `writeFile` against one raw write; and the whole
 * job (create, 50 sequential writes, completeJob) beside the seed's 36 ms and
 * beside the same work by hand (50 raw writes, then `zip -r -q -6`).
 */
import fs from "node:fs/promises";
import path from "node:path";
import pLimit from "p-limit";
import { JobStorageManager, manualScheduler } from "../../src/index.js";
import { describe, setS, textOf } from "../data.js";
import { zipCli } from "../peers.js";
import { check, interleave, progress, progressDone, ratio, summarize, time, type BenchContext, type ScenarioResult } from "../lib.js";

const RAW_CONCURRENCY = 8;
/** create + 50 sequential writes + ZIP with the seed's own Python code, measured on this machine. */
const SEED_WHOLE_JOB_MS = 36;
let tempCounter = 0;

/**
 * The physical baseline: what careful hand-written code does for one atomic
 * write (`mkdir -p` of the parent, the content into a `wx` temporary file
 * beside the target, `rename` over the target). No validation, no metadata.
 */
async function rawWrite(root: string, relative: string, content: string): Promise<void> {
  const target = path.join(root, relative);
  await fs.mkdir(path.dirname(target), { recursive: true });
  const tmp = `${target}.${process.pid}.${(tempCounter += 1)}.tmp`;
  await fs.writeFile(tmp, content, { flag: "wx" });
  await fs.rename(tmp, target);
}

export async function writesScenario(ctx: BenchContext): Promise<ScenarioResult> {
  const { settings } = ctx;
  const set = setS(settings.seed);
  const files = set.files.map((spec) => ({ path: spec.path, content: textOf(spec) }));
  const root = path.join(ctx.root, "writes");
  const rawRoot = path.join(root, "raw");
  await fs.mkdir(rawRoot, { recursive: true });
  const storage = await JobStorageManager.open({ basePath: path.join(root, "jobs"), scheduler: manualScheduler() });
  try {
    // ---- writeFiles(S) vs raw batch at concurrency 8
    let jobs = 0;
    const batch = await interleave(
      [
        {
          name: "writeFiles(S)",
          run: async () => {
            const job = await storage.createJob({ projectName: `writes-${(jobs += 1)}` });
            let success = 0;
            const ms = await time(async () => ({ success } = await storage.writeFiles(job.jobId, files)), "writeFiles");
            if (success !== files.length) throw new Error(`writeFiles stored ${success} of ${files.length} files`);
            return ms;
          },
        },
        {
          name: "raw tmp+rename, c=8",
          run: async (round) => {
            const dir = path.join(rawRoot, `batch-${round}`);
            await fs.mkdir(dir);
            const limit = pLimit(RAW_CONCURRENCY);
            return time(() => Promise.all(files.map((file) => limit(() => rawWrite(dir, file.path, file.content)))));
          },
        },
      ],
      { rounds: settings.writeRounds, warmup: settings.warmup, onRound: (r) => progress(`writes: batch round ${r + 1}`) },
    );

    // ---- 50 sequential writeFile vs 50 sequential raw writes; the whole job
    let seqJobs = 0;
    const sequential = await interleave(
      [
        {
          name: "50 sequential writeFile",
          run: async () => {
            const job = await storage.createJob({ projectName: `sequential-${(seqJobs += 1)}` });
            return time(async () => {
              for (const file of files) await storage.writeFile(job.jobId, file.path, file.content);
            }, "sequential");
          },
        },
        {
          name: "50 sequential raw tmp+rename",
          run: async (round) => {
            const dir = path.join(rawRoot, `sequential-${round}`);
            await fs.mkdir(dir);
            return time(async () => {
              for (const file of files) await rawWrite(dir, file.path, file.content);
            });
          },
        },
        {
          name: "whole job: create + 50 writeFile + completeJob",
          run: async () =>
            time(async () => {
              const job = await storage.createJob({ projectName: `whole-${(seqJobs += 1)}` });
              for (const file of files) await storage.writeFile(job.jobId, file.path, file.content);
              await storage.completeJob(job.jobId);
            }, "whole-job"),
        },
        {
          name: "whole job raw: mkdir + 50 raw writes + zip -r -q -6",
          run: async (round) =>
            time(async () => {
              const dir = path.join(rawRoot, `whole-${round}`);
              await fs.mkdir(dir);
              for (const file of files) await rawWrite(dir, file.path, file.content);
              await zipCli(dir, path.join(rawRoot, `whole-${round}.zip`));
            }),
        },
      ],
      { rounds: settings.writeRounds, warmup: settings.warmup, onRound: (r) => progress(`writes: sequential round ${r + 1}`) },
    );

    // ---- one writeFile vs one raw write, interleaved write by write
    const job = await storage.createJob({ projectName: "single-writes" });
    const singleRaw = path.join(rawRoot, "single");
    await fs.mkdir(singleRaw);
    const warmup = Math.min(50, settings.singleWrites);
    let index = 0;
    const single = await interleave(
      [
        {
          name: "writeFile",
          run: async () => {
            const file = files[index % files.length]!;
            return time(() => storage.writeFile(job.jobId, `src/w${index}.ts`, file.content), "writeFile");
          },
        },
        {
          name: "raw tmp+rename, one file",
          run: async () => {
            const file = files[index % files.length]!;
            return time(() => rawWrite(singleRaw, `src/w${index}.ts`, file.content));
          },
        },
      ],
      {
        rounds: settings.singleWrites,
        warmup,
        onRound: (r) => {
          index = r + 1; // each round writes a fresh path on both sides
          if (r % 50 === 0) progress(`writes: single write ${r + 1}`);
        },
      },
    );
    progressDone();

    const ours = summarize("writeFiles(S)", "ours", batch.get("writeFiles(S)")!);
    const raw = summarize("raw tmp+rename, c=8", "baseline", batch.get("raw tmp+rename, c=8")!);
    const one = summarize("writeFile (one file)", "ours", single.get("writeFile")!);
    const rawOne = summarize("raw tmp+rename, one file", "baseline", single.get("raw tmp+rename, one file")!);
    const seqOurs = summarize("50 sequential writeFile", "ours", sequential.get("50 sequential writeFile")!);
    const seqRaw = summarize("50 sequential raw tmp+rename", "baseline", sequential.get("50 sequential raw tmp+rename")!);
    const whole = summarize("whole job: create + 50 writeFile + completeJob", "ours", sequential.get("whole job: create + 50 writeFile + completeJob")!);
    const wholeRaw = summarize(
      "whole job raw: mkdir + 50 raw writes + zip -r -q -6",
      "baseline",
      sequential.get("whole job raw: mkdir + 50 raw writes + zip -r -q -6")!,
    );
    const wholeRatio = ratio(whole, wholeRaw);
    const batchRatio = ratio(ours, raw);
    const singleRatio = ratio(one, rawOne);
    const seqRatio = ratio(seqOurs, seqRaw);
    return {
      scenario: "writes",
      title: `${describe(set)}; ${settings.writeRounds} batches, ${settings.singleWrites} single writes per side`,
      notes: [
        "each writeFiles(S) goes into a fresh job (createJob untimed); each raw batch into a fresh directory.",
        `single writes: a fresh path each (src/w<i>.ts in one job / one directory), the ${files.length} S contents in turn, interleaved one by one.`,
        "raw write = mkdir -p parent, writeFile(tmp beside target, flag wx), rename; no validation, no metadata.",
        "50 sequential: each side into a fresh job / directory, awaited one after another (the guide's writer loop).",
        `whole job: the seed's Python service took ${SEED_WHOLE_JOB_MS} ms for the same workload on this machine (measured once, not in this run); the target is half of it.`,
        "whole job raw: the same work by hand in this run (raw writes, then the zip command line as a process): the floor without guarantees.",
      ],
      summaries: [ours, raw, seqOurs, seqRaw, one, rawOne, whole, wholeRaw],
      ratios: [batchRatio, seqRatio, singleRatio, wholeRatio],
      checks: [
        check("writeFiles(S) / raw c=8", batchRatio.ratio, "x", "<=", 1.2),
        check("50 sequential writeFile / raw", seqRatio.ratio, "x", "<=", 1.5),
        check("writeFile / raw one file", singleRatio.ratio, "x", "<=", 1.5),
        check("whole job (create + 50 writes + complete)", whole.median, "ms", "<=", SEED_WHOLE_JOB_MS / 2),
        check("writeFile, per write", one.median, "ms", "<", 1, "seed"),
        check("writeFiles(S), 50 files", ours.median, "ms", "<=", 50, "seed"),
      ],
    };
  } finally {
    await storage.close();
  }
}
