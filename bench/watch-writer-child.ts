/**
 * The writer of the watch scenario: writes `count` files to one job, one
 * every `gapMs`, then completes it. Its changes carry its clock's time (`at`).
 *
 * Usage: watch-writer-child.ts <basePath> <jobId> <count> <gapMs>
 */
import { setTimeout as sleep } from "node:timers/promises";
import { JobStorageManager, manualScheduler } from "../src/index.js";

const [basePath, jobId, countText, gapText] = process.argv.slice(2);
const storage = await JobStorageManager.open({ basePath: basePath!, scheduler: manualScheduler() });
for (let i = 0; i < Number(countText); i += 1) {
  await storage.writeFile(jobId!, `src/f${i}.ts`, `export const v${i} = ${i};\n`);
  // Spaced, so each change is delivered on its own rather than in a burst.
  await sleep(Number(gapText));
}
await storage.completeJob(jobId!);
await storage.close();
