/**
 * Watch: how long a change takes to reach a `watch` in another process on
 * the same base path (commit in the writer, `at`, to delivery in the
 * watcher, both on this machine's clock), and what hashing costs on the
 * write path (SHA-256 of each S file against one whole `writeFile`).
 */
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { once } from "node:events";
import fs from "node:fs/promises";
import path from "node:path";
import { JobStorageManager, manualScheduler } from "../../src/index.js";
import { setS, textOf } from "../data.js";
import { BENCH_DIR, REPO_DIR, check, progress, progressDone, summarize, time, type BenchContext, type ScenarioResult } from "../lib.js";

const CHANGES = 200;
const GAP_MS = 10;

export async function watchScenario(ctx: BenchContext): Promise<ScenarioResult> {
  const basePath = path.join(ctx.root, "watch");
  await fs.mkdir(basePath, { recursive: true });
  const storage = await JobStorageManager.open({ basePath, scheduler: manualScheduler() });
  try {
    // ---- latency across processes
    const { jobId } = await storage.createJob({ projectName: "watched" });
    const latencies: number[] = [];
    progress("watch: another process writes");
    const child = spawn(process.execPath, ["--import", "tsx", path.join(BENCH_DIR, "watch-writer-child.ts"), basePath, jobId, String(CHANGES), String(GAP_MS)], {
      cwd: REPO_DIR,
      stdio: ["ignore", "ignore", "inherit"],
    });
    const exited = once(child, "exit");
    for await (const change of storage.watch(jobId)) {
      if (change.type === "file:written") latencies.push(Date.now() - Date.parse(change.at));
    }
    const [code] = (await exited) as [number | null];
    if (code !== 0) throw new Error(`watch-writer-child exited with ${code}`);

    // ---- hashing on the write path
    progress("watch: hashing cost");
    const files = setS(ctx.settings.seed).files.map((spec) => Buffer.from(textOf(spec)));
    const hashing: number[] = [];
    const writes: number[] = [];
    const job = await storage.createJob({ projectName: "hashing" });
    for (let round = 0; round < 10; round += 1) {
      for (const [i, content] of files.entries()) {
        hashing.push(await time(async () => void createHash("sha256").update(content).digest("hex")));
        writes.push(await time(() => storage.writeFile(job.jobId, `src/h${round}-${i}.ts`, content)));
      }
    }
    progressDone();
    const latency = summarize("watch latency, another process (commit to delivery)", "ours", latencies);
    const sorted = [...latencies].sort((a, b) => a - b);
    const p99 = sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.99))]!;
    const hash = summarize("SHA-256 of one S file", "ours", hashing);
    const write = summarize("one writeFile of the same file", "reference", writes);
    return {
      scenario: "watch",
      title: `${CHANGES} writes by another process, one every ${GAP_MS} ms, watched here; hashing of the ${files.length} S files x 10`,
      notes: [
        `latency: p50 ${latency.median.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms over ${latencies.length} changes; ` +
          "the feed wakes on SQLite's data_version, looked at every 20 ms while something waits, so about 10 ms on average is the poll itself.",
        `hashing is ${((hash.median / write.median) * 100).toFixed(1)} % of a writeFile (median ${hash.median.toFixed(3)} ms of ${write.median.toFixed(3)} ms).`,
      ],
      summaries: [latency, hash, write],
      ratios: [],
      checks: [check("watch latency p99, another process", p99, "ms", "<=", 100)],
    };
  } finally {
    await storage.close();
  }
}
