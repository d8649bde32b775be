/**
 * The writer the recovery scenario kills: writes 40-file batches to one job
 * until SIGKILLed, printing "writing" just before each batch commit starts.
 *
 * Usage: kill-writer-child.ts <basePath> <jobId>
 */
import { JobStorageManager, manualScheduler } from "../src/index.js";

const [basePath, jobId] = process.argv.slice(2);
const storage = await JobStorageManager.open({ basePath: basePath!, scheduler: manualScheduler() });
const batch = Array.from({ length: 40 }, (_, i) => ({ path: `src/part${i % 8}/file${i}.ts`, content: `export const v${i} = ${"x".repeat(2000 + i)};\n` }));
// Bounded: the parent kills the process long before this ends.
for (let round = 0; round < 100_000; round += 1) {
  if (round === 1) console.log("writing");
  await storage.writeFiles(jobId!, batch.map((file) => ({ ...file, content: `${file.content}// ${round}\n` })));
}
