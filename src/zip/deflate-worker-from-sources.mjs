// Starts `deflate-worker.ts` from the TypeScript sources (under Vitest or tsx),
// which Node 20 cannot load by itself: `--import tsx` in a worker's `execArgv`
// is not applied to the worker's entry module, so the worker registers tsx's
// loader here, then imports the real module. The published package never
// loads this file: from `dist/` the pool starts `deflate-worker.js` directly.
import { workerData } from "node:worker_threads";
import { register } from "tsx/esm/api";

register();
await import(workerData.deflateWorkerUrl);
