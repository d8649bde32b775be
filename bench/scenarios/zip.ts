/**
 * ZIP: `completeJob` on a job holding S, one holding M and one holding L,
 * against `zip -r -q -6` of the same tree; archiver and naive yazl for
 * reference; peak RSS growth while zipping M and L (in a child process).
 * S is the everyday case: a 50-file project must not pay a start-up cost.
 */
import fs from "node:fs/promises";
import path from "node:path";
import { JobStorageManager, manualScheduler, zipDirectory } from "../../src/index.js";
import { MIB, contentOf, describe, setL, setM, setS, type DataSet } from "../data.js";
import { benchJobId, cloneJob, listTree, readJobRecord } from "../jobs.js";
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
  type Check,
  type ScenarioResult,
  type Summary,
} from "../lib.js";
import { zipArchiver, zipCli, zipYazlNaive } from "../peers.js";

interface RssResult {
  mode: string;
  ms: number;
  baselineBytes: number;
  sampledPeakBytes: number;
  hwmBytes: number | null;
  growthMiB: number;
}

/** Writes `set` both as a plain tree (for the peers) and through `writeFiles` into a template job. */
async function prepare(storage: JobStorageManager, set: DataSet, tree: string, jobId: string): Promise<void> {
  await storage.createJob({ projectName: `zip-${set.name}`, jobId });
  const made = new Set<string>();
  let batch: { path: string; content: Buffer }[] = [];
  let batchBytes = 0;
  const flush = async (): Promise<void> => {
    if (batch.length === 0) return;
    const result = await storage.writeFiles(jobId, batch);
    if (result.success !== batch.length) throw new Error(`writeFiles stored ${result.success} of ${batch.length}: ${JSON.stringify(result.results.find((r) => !r.success))}`);
    batch = [];
    batchBytes = 0;
  };
  for (const spec of set.files) {
    const content = contentOf(spec);
    const target = path.join(tree, spec.path);
    if (!made.has(path.dirname(target))) {
      await fs.mkdir(path.dirname(target), { recursive: true });
      made.add(path.dirname(target));
    }
    await fs.writeFile(target, content);
    batch.push({ path: spec.path, content });
    batchBytes += content.length;
    if (batchBytes >= 8 * MIB || batch.length >= 200) await flush();
  }
  await flush();
}

async function sizeAndRemove(file: string): Promise<number> {
  const { size } = await fs.stat(file);
  await fs.rm(file);
  return size;
}

export async function zipScenario(ctx: BenchContext): Promise<ScenarioResult[]> {
  const root = path.join(ctx.root, "zip");
  const basePath = path.join(root, "jobs");
  const outDir = path.join(root, "out");
  await fs.mkdir(outDir, { recursive: true });
  const storage = await JobStorageManager.open({
    basePath,
    scheduler: manualScheduler(),
    maxFileSizeBytes: 1024 * MIB,
    maxProjectSizeBytes: 4096 * MIB,
  });
  const results: ScenarioResult[] = [];
  try {
    for (const [set, rounds, target] of [
      // S takes milliseconds: many more rounds (no flag of its own; it follows --zip-m-rounds).
      [setS(ctx.settings.seed), ctx.settings.zipMRounds * 8, 0.5],
      [setM(ctx.settings.seed), ctx.settings.zipMRounds, 0.8],
      [setL(ctx.settings.seed), ctx.settings.zipLRounds, 0.5],
    ] as const) {
      if (rounds <= 0) continue;
      const referenceRounds = Math.min(rounds, ctx.settings.zipReferenceRounds);
      const tree = path.join(root, "trees", set.name);
      const templateId = `template-${set.name}`;
      progress(`zip: writing ${describe(set)}`);
      await prepare(storage, set, tree, templateId);
      const templateFiles = path.join(basePath, templateId, "files");
      const listing = listTree(templateFiles);
      const template = readJobRecord(basePath, templateId);
      let clones = 0;
      const cloneTemplate = (): string => {
        const jobId = benchJobId(`zip${set.name}`, (clones += 1));
        cloneJob(basePath, { ...template, jobId }, template.rows, templateFiles, listing, "link");
        return jobId;
      };

      const sizes = new Map<string, number[]>();
      const peer = (name: string, zip: (tree: string, out: string) => Promise<void>) => ({
        name,
        run: async (round: number) => {
          const out = path.join(outDir, `${set.name}-${name.replace(/\W+/g, "_")}-${round}.zip`);
          const ms = await time(() => zip(tree, out));
          sizes.set(name, [...(sizes.get(name) ?? []), await sizeAndRemove(out)]);
          return ms;
        },
      });
      const ours = `completeJob(${set.name})`;
      // S: the ZIP alone as well, since completeJob(S) is mostly the manager's own work.
      const zipOnly = `zipDirectory(${set.name})`;
      const zipOnlyContender = {
        name: zipOnly,
        run: async (round: number) => {
          const out = path.join(outDir, `${set.name}-zipDirectory-${round}.zip`);
          const ms = await time(() => zipDirectory(templateFiles, out));
          sizes.set(zipOnly, [...(sizes.get(zipOnly) ?? []), await sizeAndRemove(out)]);
          return ms;
        },
      };
      const samples = await interleave(
        [
          {
            name: ours,
            run: async () => {
              const jobId = cloneTemplate();
              let zipSizeBytes = 0;
              const ms = await time(async () => ({ zipSizeBytes = 0 } = await storage.completeJob(jobId)), `completeJob-${set.name}`);
              sizes.set(ours, [...(sizes.get(ours) ?? []), zipSizeBytes]);
              await fs.rm(path.join(basePath, `${jobId}.zip`)); // one large file: not a mass delete
              return ms;
            },
          },
          ...(set.name === "S" ? [zipOnlyContender] : []),
          peer("zip -r -q -6", zipCli),
          { ...peer("archiver (level 6)", zipArchiver), timedRounds: referenceRounds, warmup: false },
          { ...peer("yazl naive addFile", zipYazlNaive), timedRounds: referenceRounds, warmup: false },
        ],
        { rounds, warmup: ctx.settings.warmup, onRound: (r) => progress(`zip ${set.name}: round ${r + 1}`) },
      );

      const summaries: Summary[] = [
        summarize(ours, "ours", samples.get(ours)!),
        summarize("zip -r -q -6", "baseline", samples.get("zip -r -q -6")!),
        summarize("archiver (level 6)", "reference", samples.get("archiver (level 6)")!),
        summarize("yazl naive addFile", "reference", samples.get("yazl naive addFile")!),
      ].filter((summary) => summary.n > 0); // --zip-reference-rounds 0 drops the references
      const ratios = summaries.slice(1).map((baseline) => ratio(summaries[0]!, baseline));
      const checks: Check[] = [check(`ZIP of ${set.name} / zip -r -q -6`, ratios[0]!.ratio, "x", "<=", target)];
      const notes = [
        `ZIP sizes (MB): ${[...sizes].map(([name, list]) => `${name} ${(list[0]! / 1e6).toFixed(1)}`).join(", ")}.`,
        "ours: each round zips a fresh job whose files/ are hard links to a template job written through writeFiles; the peers zip a plain tree with the same content. Both are in the page cache.",
      ];

      if (set.name === "S") {
        const zipAlone = summarize(zipOnly, "ours", samples.get(zipOnly)!);
        const zipAloneRatio = ratio(zipAlone, summaries[1]!);
        summaries.splice(1, 0, zipAlone);
        ratios.unshift(zipAloneRatio);
        // The seed's completeJob took 18.5 ms where zip -r -q -6 took 16 ms: 1.15x.
        checks[0] = check("completeJob(S) / zip -r -q -6", ratios[1]!.ratio, "x", "<=", 1.15, "seed");
        checks.unshift(check("zipDirectory(S) / zip -r -q -6 (a few ms)", zipAloneRatio.ratio, "x", "<=", target));
        notes.push("zipDirectory(S) zips the template job's files/ directly: the ZIP without the manager's work around it.");
        progressDone();
        results.push({ scenario: "zip S", title: `${describe(set)}; ${rounds} rounds (+${ctx.settings.warmup} warm-up) of ours and zip, ${referenceRounds} of the references; interleaved`, notes, summaries, ratios, checks });
        continue;
      }
      progress(`zip ${set.name}: peak RSS (child process)`);
      const rssJob = cloneTemplate();
      const rss = await runChild<RssResult>("rss-child.ts", ["ours", basePath, rssJob]);
      await fs.rm(path.join(basePath, `${rssJob}.zip`), { force: true });
      summaries.push(summarize(`peak RSS growth, completeJob(${set.name})`, "ours", [rss.growthMiB], "MiB"));
      if (set.name === "L") {
        const references: RssResult[] = [];
        for (const mode of ctx.settings.rssReferences ? ["archiver", "yazl"] : []) {
          const out = path.join(outDir, `rss-${mode}.zip`);
          references.push(await runChild<RssResult>("rss-child.ts", [mode, tree, out]));
          await fs.rm(out, { force: true });
        }
        for (const ref of references) summaries.push(summarize(`peak RSS growth, ${ref.mode === "yazl" ? "yazl naive addFile" : "archiver (level 6)"}`, "reference", [ref.growthMiB], "MiB"));
        checks.push(check("peak RSS growth zipping L", rss.growthMiB, "MiB", "<", 96));
      }
      notes.push(
        `RSS: a separate process per build; baseline after start-up, peak = max(VmHWM after resetting it via /proc/self/clear_refs, RSS sampled every 5 ms); ours: baseline ${(rss.baselineBytes / MIB).toFixed(0)} MiB, the build took ${(rss.ms / 1000).toFixed(1)} s there.${set.name === "M" ? " The issue sets no RSS target for M; shown for reference." : ""}`,
      );
      progressDone();
      results.push({
        scenario: `zip ${set.name}`,
        title: `${describe(set)}; ${rounds} rounds (+${ctx.settings.warmup} warm-up) of ours and zip, ${referenceRounds} of the references; interleaved`,
        notes,
        summaries,
        ratios,
        checks,
      });
    }
  } finally {
    await storage.close();
  }
  return results;
}
