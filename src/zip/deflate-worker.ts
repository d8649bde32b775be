/**
 * A deflate worker thread, started by `worker-pool.ts`: answers `stat` and
 * `files` requests (see `worker-protocol.ts`) with the same synchronous
 * kernels the main thread uses for small jobs (`small-file.ts`).
 * @internal
 * @module
 */
import { parentPort } from "node:worker_threads";
import { lstatFileSync, prepareSmallFileSync } from "./small-file.js";
import {
  DEFLATED,
  FAILED,
  SHEBANG,
  SKIPPED,
  toWireError,
  type FilesReply,
  type FilesRequest,
  type StatReply,
  type StatRequest,
  type WireError,
  type WorkerRequest,
} from "./worker-protocol.js";

if (parentPort === null) throw new Error("deflate-worker.js runs as a worker thread only");
const port = parentPort;

function stat({ id, paths }: StatRequest): void {
  const list = paths.split("\0");
  const status = new Uint8Array(list.length);
  const sizes = new Float64Array(list.length);
  const modes = new Float64Array(list.length);
  const mtimes = new Float64Array(list.length);
  const errors: WireError[] = [];
  list.forEach((absPath, index) => {
    try {
      const found = lstatFileSync(absPath);
      if (found === undefined) {
        status[index] = SKIPPED;
        return;
      }
      sizes[index] = found.sizeBytes;
      modes[index] = found.mode;
      mtimes[index] = found.mtimeMs;
    } catch (error) {
      status[index] = FAILED;
      errors.push(toWireError(index, error));
    }
  });
  const reply: StatReply = { id, status, sizes, modes, mtimes, errors };
  port.postMessage(reply, [status.buffer, sizes.buffer, modes.buffer, mtimes.buffer]);
}

function readFiles({ id, paths, sizes: listed, store, level }: FilesRequest): void {
  const list = paths.split("\0");
  const status = new Uint8Array(list.length);
  const flags = new Uint8Array(list.length);
  const lengths = new Float64Array(list.length);
  const crcs = new Uint32Array(list.length);
  const sizes = new Float64Array(list.length);
  const errors: WireError[] = [];
  const payloads: Buffer[] = [];
  let total = 0;
  list.forEach((absPath, index) => {
    try {
      const result = prepareSmallFileSync({ absPath, sizeBytes: listed[index]!, store: store[index] === 1 }, level);
      flags[index] = (result.deflated ? DEFLATED : 0) | (result.shebang ? SHEBANG : 0);
      crcs[index] = result.crc32;
      sizes[index] = result.sizeBytes;
      lengths[index] = result.data.length;
      payloads.push(result.data);
      total += result.data.length;
    } catch (error) {
      status[index] = FAILED;
      errors.push(toWireError(index, error));
    }
  });
  // One transferred buffer for the whole batch: one copy, no per-file structured clone.
  const buffer = new ArrayBuffer(total);
  const bytes = new Uint8Array(buffer);
  let offset = 0;
  for (const payload of payloads) {
    bytes.set(payload, offset);
    offset += payload.length;
  }
  const reply: FilesReply = { id, buffer, status, flags, lengths, crcs, sizes, errors };
  port.postMessage(reply, [buffer, status.buffer, flags.buffer, lengths.buffer, crcs.buffer, sizes.buffer]);
}

port.on("message", (message: WorkerRequest) => (message.op === "stat" ? stat(message) : readFiles(message)));
