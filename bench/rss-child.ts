/**
 * Peak RSS growth of one ZIP build, in a process of its own:
 *
 *   node --import tsx bench/rss-child.ts ours <basePath> <jobId>
 *   node --import tsx bench/rss-child.ts archiver|yazl <tree> <out.zip>
 *
 * Everything is loaded (and, for `ours`, the manager opened) before the
 * baseline is taken; then the kernel's peak-RSS counter is reset (writing 5 to
 * /proc/self/clear_refs) and RSS is also sampled every 5 ms. Growth = the
 * larger of the two peaks minus the baseline. Prints one JSON line.
 */
import fs from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { JobStorageManager, manualScheduler } from "../src/index.js";
import { MIB } from "./data.js";
import { zipArchiver, zipYazlNaive } from "./peers.js";

function vmHwmBytes(): number | undefined {
  try {
    const match = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync("/proc/self/status", "utf8"));
    return match ? Number(match[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

function resetHwm(): boolean {
  try {
    fs.writeFileSync("/proc/self/clear_refs", "5");
    return true;
  } catch {
    return false;
  }
}

const [mode, first, second] = process.argv.slice(2);
if (mode === undefined || first === undefined || second === undefined) {
  throw new Error("usage: rss-child.ts ours <basePath> <jobId> | archiver|yazl <tree> <out.zip>");
}

let storage: JobStorageManager | undefined;
let run: () => Promise<unknown>;
if (mode === "ours") {
  storage = await JobStorageManager.open({
    basePath: first,
    scheduler: manualScheduler(),
    maxFileSizeBytes: 1024 * MIB,
    maxProjectSizeBytes: 4096 * MIB,
  });
  const manager = storage;
  run = () => manager.completeJob(second);
} else if (mode === "archiver") {
  run = () => zipArchiver(first, second);
} else if (mode === "yazl") {
  run = () => zipYazlNaive(first, second);
} else {
  throw new Error(`unknown mode ${mode}`);
}

// Settle: let start-up garbage go before the baseline.
(globalThis as { gc?: () => void }).gc?.();
await sleep(100);
const baseline = process.memoryUsage.rss();
const hwmReset = resetHwm();
let sampledPeak = baseline;
const timer = setInterval(() => {
  const rss = process.memoryUsage.rss();
  if (rss > sampledPeak) sampledPeak = rss;
}, 5);
const start = performance.now();
await run();
const ms = performance.now() - start;
clearInterval(timer);
sampledPeak = Math.max(sampledPeak, process.memoryUsage.rss());
const hwm = hwmReset ? vmHwmBytes() : undefined;
await storage?.close();
const peak = Math.max(sampledPeak, hwm ?? 0);
console.log(
  JSON.stringify({
    mode,
    ms,
    baselineBytes: baseline,
    sampledPeakBytes: sampledPeak,
    hwmBytes: hwm ?? null,
    growthMiB: (peak - baseline) / MIB,
  }),
);
