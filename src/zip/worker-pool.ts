/**
 * Worker threads that `lstat`, read and deflate batches of small files, for
 * jobs with many of them (see `archive.ts` for when they start).
 *
 * Each file costs three `fs` calls plus a deflate; done asynchronously on the
 * libuv pool, every one of them is a thread hand-off. Measured on a 2-vCPU
 * VM, 70,000 tiny files took 20 s to zip that way instead of under 5 s. A
 * worker (`deflate-worker.ts`) does the same work with the synchronous
 * kernels of `small-file.ts`, off the main thread, and answers a whole batch
 * with typed arrays and one transferred `ArrayBuffer` of payloads.
 * @internal
 * @module
 */
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import { symlinkError, type SmallFileJob, type SmallFileResult } from "./small-file.js";
import type { FileStats } from "./walk.js";
import { DEFLATED, OK, SHEBANG, type FilesReply, type FilesRequest, type StatReply, type StatRequest, type WireError } from "./worker-protocol.js";

/** One small file for a worker. @internal */
export interface WorkerFileJob extends SmallFileJob {
  /** Entry name, for errors. */
  name: string;
}

/**
 * Where the worker's module is, and how to start it. From `dist/` this module
 * is `worker-pool.js` and the worker `deflate-worker.js`, plain JavaScript.
 * From the sources (Vitest, tsx) both are `.ts`, which Node 20 cannot start as
 * a worker: a tiny bootstrap registers tsx's loader in the worker first (tsx
 * is a development dependency; the published package never takes this branch).
 * @internal
 */
export function deflateWorkerEntry(moduleUrl: string = import.meta.url): { url: URL; workerData: unknown } {
  if (!moduleUrl.endsWith(".ts")) return { url: new URL("./deflate-worker.js", moduleUrl), workerData: undefined };
  return {
    url: new URL("./deflate-worker-from-sources.mjs", moduleUrl),
    workerData: { deflateWorkerUrl: new URL("./deflate-worker.ts", moduleUrl).href },
  };
}

interface Slot {
  worker: Worker;
  /** Requests sent and not answered. */
  pending: Map<number, { resolve: (reply: never) => void; reject: (error: unknown) => void }>;
}

/** Paths per `stat` request. */
const STAT_BATCH = 2048;

/** How many workers: one per CPU, at most 4 (the main thread only assembles the archive). @internal */
export function defaultWorkerCount(): number {
  return Math.max(1, Math.min(availableParallelism(), 4));
}

/**
 * A few workers, shared by the archive builds of a process (see
 * `warm-workers.ts`). Requests go to the least busy worker; answers come back
 * as they finish (callers keep their own order). `close()` terminates every
 * worker; workers never keep the process alive.
 * @internal
 */
export class SmallFileWorkers {
  /** How many workers were started. */
  readonly count: number;
  readonly #slots: Slot[] = [];
  #nextId = 0;
  #failure: Error | undefined;
  #closing: Promise<void> | undefined;
  readonly #closed = deferred();

  /**
   * Starts `count` workers.
   * @throws {Error} when a worker cannot be created (for example under the
   * permission model without `--allow-worker`); none is left running.
   */
  constructor(count = defaultWorkerCount()) {
    this.count = count;
    try {
      for (let index = 0; index < count; index += 1) this.#slots.push(this.#start());
    } catch (error) {
      void this.close();
      throw error;
    }
  }

  #start(): Slot {
    const { url, workerData } = deflateWorkerEntry();
    const worker = new Worker(url, { workerData });
    const slot: Slot = { worker, pending: new Map() };
    worker.on("message", (reply: { id: number }) => {
      const waiting = slot.pending.get(reply.id);
      slot.pending.delete(reply.id);
      if (slot.pending.size === 0) worker.unref();
      waiting?.resolve(reply as never);
    });
    const fail = (error: Error): void => {
      this.#failure ??= error;
      for (const waiting of slot.pending.values()) waiting.reject(error);
      slot.pending.clear();
      worker.unref();
    };
    worker.on("error", fail);
    worker.on("exit", (code) => {
      if (this.#closing === undefined) fail(new Error(`ZIP worker exited unexpectedly with code ${code}`));
    });
    // Referenced only while it owes an answer: an idle worker never keeps the
    // process alive, a busy one keeps it alive until the build has its reply.
    // (After the listeners: adding a "message" listener refs the port again.)
    worker.unref();
    return slot;
  }

  /** Sends `message` to the least busy worker. */
  async #request<Reply>(message: Omit<StatRequest, "id"> | Omit<FilesRequest, "id">, transfer: ArrayBuffer[] = []): Promise<Reply> {
    if (this.#closing !== undefined) throw new Error("ZIP workers are closed");
    if (this.#failure !== undefined) throw this.#failure;
    const slot = this.#slots.reduce((best, candidate) => (candidate.pending.size < best.pending.size ? candidate : best));
    const id = this.#nextId++;
    return new Promise<Reply>((resolve, reject) => {
      if (slot.pending.size === 0) slot.worker.ref();
      slot.pending.set(id, { resolve, reject });
      slot.worker.postMessage({ ...message, id }, transfer);
    });
  }

  /**
   * `lstat` for every path, spread over the workers.
   * @returns In order: the stats, or `undefined` for a path that vanished or is not a regular file.
   * @throws {NodeJS.ErrnoException} any other `lstat` error.
   */
  async stat(absPaths: string[]): Promise<(FileStats | undefined)[]> {
    const batches: string[][] = [];
    for (let start = 0; start < absPaths.length; start += STAT_BATCH) batches.push(absPaths.slice(start, start + STAT_BATCH));
    const replies = await Promise.all(batches.map((paths) => this.#request<StatReply>({ op: "stat", paths: paths.join("\0") })));
    return replies.flatMap((reply, batch) => {
      const [error] = reply.errors;
      if (error !== undefined) throw wireToError(error, batches[batch]![error.index]!);
      return Array.from(reply.status, (status, index) =>
        status === OK ? { sizeBytes: reply.sizes[index]!, mode: reply.modes[index]!, mtimeMs: reply.mtimes[index]! } : undefined,
      );
    });
  }

  /**
   * Reads (and deflates at `level`) `files` in a worker.
   * @returns One result per file, in order: a {@link SmallFileResult}, or the
   * error for that file (`JobStorageError` `INVALID_PATH` for a symbolic link,
   * otherwise an fs-like error with `code`).
   */
  async run(files: WorkerFileJob[], level: number): Promise<(SmallFileResult | Error)[]> {
    const sizes = Float64Array.from(files, (file) => file.sizeBytes);
    const store = Uint8Array.from(files, (file) => (file.store ? 1 : 0));
    const reply = await this.#request<FilesReply>(
      { op: "files", paths: files.map((file) => file.absPath).join("\0"), sizes, store, level },
      [sizes.buffer, store.buffer],
    );
    const errors = new Map(reply.errors.map((error) => [error.index, error]));
    let offset = 0;
    return files.map((file, index) => {
      const error = errors.get(index);
      if (error !== undefined) return fileError(file, error);
      const length = reply.lengths[index]!;
      const data = Buffer.from(reply.buffer, offset, length);
      offset += length;
      const flagBits = reply.flags[index]!;
      return {
        data,
        deflated: (flagBits & DEFLATED) !== 0,
        crc32: reply.crcs[index]!,
        sizeBytes: reply.sizes[index]!,
        shebang: (flagBits & SHEBANG) !== 0,
      };
    });
  }

  /** Whether a worker failed or exited, or `close()` was called: such a pool takes no more requests. */
  get usable(): boolean {
    return this.#failure === undefined && this.#closing === undefined;
  }

  /** Resolves once `close()` (by whoever called it) has terminated every worker. */
  whenClosed(): Promise<void> {
    return this.#closed.promise;
  }

  /** Terminates every worker; pending requests are rejected. Idempotent: every call returns the same promise. */
  close(): Promise<void> {
    this.#closing ??= this.#terminate();
    return this.#closing;
  }

  async #terminate(): Promise<void> {
    const closedError = new Error("ZIP workers closed");
    for (const slot of this.#slots) {
      for (const waiting of slot.pending.values()) waiting.reject(closedError);
      slot.pending.clear();
    }
    await Promise.all(this.#slots.map((slot) => slot.worker.terminate()));
    this.#closed.resolve();
  }
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((settle) => (resolve = settle));
  return { promise, resolve };
}

/** An fs-like error (`code`, `syscall`, `errno`, `path`) from its wire form. */
function wireToError(error: WireError, absPath: string): Error {
  return Object.assign(new Error(error.message), {
    ...(error.code === undefined ? {} : { code: error.code }),
    ...(error.syscall === undefined ? {} : { syscall: error.syscall }),
    ...(error.errno === undefined ? {} : { errno: error.errno }),
    path: absPath,
  });
}

function fileError(file: WorkerFileJob, wire: WireError): Error {
  return symlinkError(file.name, wireToError(wire, file.absPath));
}

