/**
 * The heap a manager holds for the jobs of a base path, in a process of its own:
 *
 *   node --expose-gc --import tsx bench/heap-child.ts <basePath>
 *
 * heapUsed after full GCs, before `open()`, after it, and after a
 * `listJobs()` + `getStats()` whose results are dropped (what stays is the
 * manager's index). Prints one JSON line.
 */
import { JobStorageManager, manualScheduler } from "../src/index.js";

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error("run with node --expose-gc");
const [basePath] = process.argv.slice(2);
if (basePath === undefined) throw new Error("usage: heap-child.ts <basePath>");

function settledHeap(): number {
  for (let i = 0; i < 4; i += 1) gc!();
  return process.memoryUsage().heapUsed;
}

const before = settledHeap();
const start = performance.now();
const storage = await JobStorageManager.open({ basePath, scheduler: manualScheduler() });
const openMs = performance.now() - start;
const afterOpen = settledHeap();
const jobCount = (await storage.listJobs()).length;
await storage.getStats();
const afterUse = settledHeap();
console.log(
  JSON.stringify({
    jobCount,
    openMs,
    heapBeforeBytes: before,
    afterOpenDeltaBytes: afterOpen - before,
    afterUseDeltaBytes: afterUse - before,
    rssBytes: process.memoryUsage.rss(),
  }),
);
await storage.close();
