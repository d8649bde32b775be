/**
 * Cleanup: `cleanupExpired()` of N expired jobs of S (an injected clock moved
 * past their expiry) against `fs.promises.rm(dir, { recursive: true, force: true })`
 * of N identical trees, all at once.
 */
import fs from "node:fs/promises";
import path from "node:path";
import { JobStorageManager, manualScheduler } from "../../src/index.js";
import { setS, textOf } from "../data.js";
import { benchJobId, cloneJob, listTree, readJobRecord, type TreeListing } from "../jobs.js";
import type { JobRecord } from "../../src/manager/record.js";
import { check, interleave, progress, progressDone, ratio, summarize, time, type BenchContext, type ScenarioResult } from "../lib.js";

const HOUR_MS = 3_600_000;

export async function cleanupScenario(ctx: BenchContext): Promise<ScenarioResult> {
  const { settings } = ctx;
  const count = settings.cleanupJobs;
  const files = setS(settings.seed).files.map((spec) => ({ path: spec.path, content: textOf(spec) }));
  const root = path.join(ctx.root, "cleanup");
  const templateBase = path.join(root, "template");
  const basePath = path.join(root, "jobs");
  await fs.mkdir(basePath, { recursive: true });

  const t0 = Date.now();
  let clock = t0;
  const templateId = benchJobId("tmpl", 0);
  {
    const storage = await JobStorageManager.open({ basePath: templateBase, scheduler: manualScheduler(), now: () => new Date(clock) });
    await storage.createJob({ projectName: "cleanup template", jobId: templateId });
    if ((await storage.writeFiles(templateId, files)).success !== files.length) throw new Error("template write failed");
    await storage.close();
  }
  const template = readJobRecord(templateBase, templateId);
  const templateFiles = path.join(templateBase, templateId, "files");
  const listing: TreeListing = listTree(templateFiles);
  let made = 0;
  /** `count` jobs of S, real copies (a hard link would make rm free no data), created one hour ago. */
  const populate = (dir: string): string[] => {
    const ids: string[] = [];
    for (let i = 0; i < count; i += 1) {
      const record: JobRecord = {
        ...template,
        jobId: benchJobId("exp", (made += 1)),
        createdAt: new Date(t0 - HOUR_MS).toISOString(),
        expiresAt: new Date(t0 + 47 * HOUR_MS).toISOString(),
      };
      cloneJob(dir, record, template.rows, templateFiles, listing, "copy");
      ids.push(record.jobId);
    }
    return ids;
  };

  const samples = await interleave(
    [
      {
        name: "cleanupExpired()",
        run: async () => {
          populate(basePath);
          clock = t0;
          const storage = await JobStorageManager.open({ basePath, scheduler: manualScheduler(), now: () => new Date(clock) });
          try {
            clock = t0 + 49 * HOUR_MS; // every job is now past its expiresAt
            let cleaned = 0;
            const ms = await time(async () => (cleaned = (await storage.cleanupExpired()).cleanedJobs.length), "cleanupExpired");
            if (cleaned !== count) throw new Error(`cleanupExpired removed ${cleaned} of ${count} jobs`);
            return ms;
          } finally {
            await storage.close();
          }
        },
      },
      {
        name: "fs.promises.rm, all at once",
        run: async (round) => {
          const dir = path.join(root, `raw-${round}`);
          await fs.mkdir(dir);
          const trees = populate(dir).map((id) => path.join(dir, id));
          return time(() => Promise.all(trees.map((tree) => fs.rm(tree, { recursive: true, force: true }))));
        },
      },
    ],
    { rounds: settings.cleanupRounds, warmup: settings.warmup, onRound: (r) => progress(`cleanup: round ${r + 1}`) },
  );
  progressDone();
  const ours = summarize("cleanupExpired()", "ours", samples.get("cleanupExpired()")!);
  const raw = summarize("fs.promises.rm, all at once", "baseline", samples.get("fs.promises.rm, all at once")!);
  const r = ratio(ours, raw);
  return {
    scenario: "cleanup",
    title: `${count} expired jobs of S (${count * listing.files.length} files) per round; ${settings.cleanupRounds} rounds (+${settings.warmup} warm-up)`,
    notes: [
      "each round first copies the trees (untimed; real copies, job.json included, identical on both sides), then times only the deletion; ours opens a fresh manager (untimed) and moves its injected clock 49 h ahead.",
      "run last on purpose: on this disk (ext4 without a journal) file creation is far slower for a few minutes after a mass delete.",
    ],
    summaries: [ours, raw],
    ratios: [r],
    checks: [check("cleanupExpired() / fs.promises.rm", r.ratio, "x", "<=", 1.2)],
  };
}
