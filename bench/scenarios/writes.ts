/**
 * Writes: `writeFiles(jobId, S)` into a fresh job against raw temp-file-plus-
 * rename writes of the same files at concurrency 8, and one `writeFile`
 * against one raw temp-plus-rename write.
 */
import fs from "node:fs/promises";
import path from "node:path";
import pLimit from "p-limit";
import { JobStorageManager, manualScheduler } from "../../src/index.js";
import { describe, setS, textOf } from "../data.js";
import { check, interleave, progress, progressDone, ratio, summarize, time, type BenchContext, type ScenarioResult } from "../lib.js";

const RAW_CONCURRENCY = 8;
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
    const batchRatio = ratio(ours, raw);
    const singleRatio = ratio(one, rawOne);
    return {
      scenario: "writes",
      title: `${describe(set)}; ${settings.writeRounds} batches, ${settings.singleWrites} single writes per side`,
      notes: [
        "each writeFiles(S) goes into a fresh job (createJob untimed); each raw batch into a fresh directory.",
        `single writes: a fresh path each (src/w<i>.ts in one job / one directory), the ${files.length} S contents in turn, interleaved one by one.`,
        "raw write = mkdir -p parent, writeFile(tmp beside target, flag wx), rename; no validation, no metadata.",
      ],
      summaries: [ours, raw, one, rawOne],
      ratios: [batchRatio, singleRatio],
      checks: [
        check("writeFiles(S) / raw c=8", batchRatio.ratio, "x", "<=", 1.3),
        check("writeFile / raw one file", singleRatio.ratio, "x", "<=", 2),
        check("writeFile, per write", one.median, "ms", "<", 1, "seed"),
        check("writeFiles(S), 50 files", ours.median, "ms", "<=", 50, "seed"),
      ],
    };
  } finally {
    await storage.close();
  }
}
