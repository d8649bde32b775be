/**
 * The archive builder shared by `zipDirectory` and `createZipStream`.
 *
 * Entries are prepared ahead of the writer, several at a time, and handed to
 * yazl strictly in sorted order:
 *
 * - small files (< 1 MiB) go in batches of consecutive entries to worker
 *   threads (see `worker-pool.ts`), or, for a small job or with
 *   `workerThreads: 0`, are done on the main thread one batch at a time
 *   (the event loop runs between batches): each is read whole, checksummed
 *   with the native `zlib.crc32` and deflated, by the same synchronous
 *   kernel either way (see `small-file.ts`); yazl gets the
 *   bytes with their CRC-32 (see `fast-zip-file.ts`): deflated, or the
 *   original, stored, when the type is already compressed, the data looks
 *   random (see `smallFileMayCompress`) or deflating saves less than 5 %;
 * - a large file is judged by deflating a 64 KiB sample, then streamed
 *   through yazl (deflated or stored), never held in memory whole.
 *
 * Memory stays bounded: at most {@link MAX_AHEAD_BYTES} of file data is being
 * prepared or waiting, and the writer waits for yazl's output to drain below
 * {@link MAX_OUTPUT_BUFFER_BYTES} before handing over the next entry.
 * @internal
 * @module
 */
import { once } from "node:events";
import { open as openHandle, type FileHandle } from "node:fs/promises";
import { PassThrough } from "node:stream";
import { pipeline } from "node:stream/promises";
import { setImmediate as nextTurn } from "node:timers/promises";
import pLimit from "p-limit";
import { ZipFile } from "yazl";
import { JobStorageError } from "../errors.js";
import { SAMPLE_BYTES, hasCompressedExtension, sampleCompresses, smallFileMayCompress, startsWithShebang } from "./compressibility.js";
import { FastZipFile, fastZipFileSupported } from "./fast-zip-file.js";
import { parallelDeflate } from "./parallel-deflate.js";
import type { ResolvedZipOptions } from "./options.js";
import type { DirectoryItem, FileItem } from "./walk.js";
import { READ_FLAGS, lstatFileSync, prepareSmallFileSync, symlinkError, type SmallFileResult } from "./small-file.js";
import { readTree, statOnThreadPool, statTree } from "./walk.js";
import { warmWorkers, type WorkersLease } from "./warm-workers.js";
import { defaultWorkerCount, type SmallFileWorkers, type WorkerFileJob } from "./worker-pool.js";

const MIB = 1024 * 1024;
/** Files below this size are read whole and deflated in parallel; larger ones are streamed. */
export const SMALL_FILE_BYTES = MIB;
/** File bytes being prepared or waiting for the writer, at most (one file may exceed it alone). */
export const MAX_AHEAD_BYTES = 32 * MIB;
/** Batches (or large files) being prepared or waiting for the writer, at most. */
const MAX_AHEAD_UNITS = 16;
/** A batch of small files holds at most this many files... */
const BATCH_FILES = 256;
/** ...and at most this many bytes (or one file). */
const BATCH_BYTES = 512 * 1024;
/** With workers, a small job is cut into at least two batches per worker (of at least this many bytes), so they all take part. */
const MIN_WORKER_BATCH_BYTES = 32 * 1024;
/** Large files sampled at once on the libuv pool. */
const PREPARE_CONCURRENCY = 8;
/**
 * Worker threads start when there are at least this many files; a smaller
 * job is done on the main thread, where it takes a few milliseconds while
 * starting the workers costs tens of milliseconds (see the README, "Performance").
 */
export const WORKERS_MIN_FILES = 128;
/** The writer pauses while yazl's output holds more than this. */
export const MAX_OUTPUT_BUFFER_BYTES = 4 * MIB;
/**
 * Smaller files are stored without trying: deflate could save a few dozen
 * bytes at most, less than an entry's headers, and each attempt costs a
 * thread-pool round trip (it adds up over tens of thousands of tiny files).
 */
const MIN_DEFLATE_BYTES = 64;
/** Read size for streamed (large) files. */
const STREAM_CHUNK_BYTES = MIB;

const FILE_MODE = 0o100644;
const EXECUTABLE_MODE = 0o100755;
const DIRECTORY_MODE = 0o40755;

type BufferMethod =
  /** `data` is the original, to be stored. */
  | "stored"
  /** `data` is deflated already (with {@link FastZipFile}). */
  | "predeflated"
  /** `data` is the original, for yazl to deflate (plain `ZipFile`, when {@link FastZipFile} is unsupported). */
  | "deflate";

type PreparedEntry =
  | { kind: "buffer"; data: Buffer; method: BufferMethod; crc32: number; sizeBytes: number; executable: boolean }
  | { kind: "stream"; compress: boolean; executable: boolean };

/** What is prepared as one piece: a batch of consecutive small files, a large file or an empty directory. */
type Unit = { kind: "small"; items: FileItem[]; costBytes: number } | { kind: "large"; item: FileItem } | { kind: "directory"; item: DirectoryItem };

/** A running archive build. @internal */
export interface ArchiveRun {
  /** The archive's bytes (yazl's output, piped); pipe it somewhere right away (the builder waits for it to drain). */
  readonly output: PassThrough;
  /** Resolves with the number of file entries once the last entry is handed to yazl and `end()` is called. */
  readonly done: Promise<number>;
  /** Fails the build (first call wins): stops reading, destroys `output`. */
  abort(reason: unknown): void;
  /** The error to report for `error`: the first failure of the build, or the caller's abort reason. */
  primaryError(error: unknown): unknown;
}

/**
 * Starts building the archive of `root` into a new yazl `ZipFile`.
 * @internal
 */
export function startArchive(root: string, options: ResolvedZipOptions): ArchiveRun {
  const controller = new AbortController();
  const signal = options.signal === undefined ? controller.signal : AbortSignal.any([options.signal, controller.signal]);
  // The ZipFile is created once `fastZipFileSupported()` has answered; its output is piped here.
  const output = new PassThrough({ highWaterMark: MIB });

  const primaryError = (error: unknown): unknown => (signal.aborted ? signal.reason : error);
  const abort = (reason: unknown): void => {
    if (!controller.signal.aborted) controller.abort(primaryError(reason));
  };
  signal.addEventListener("abort", () => output.destroy(toError(signal.reason)), { once: true });

  const start = async (): Promise<number> => {
    const zip = (await fastZipFileSupported()) ? new FastZipFile() : new ZipFile();
    // yazl reports failures on the ZipFile as well as on its output (a stream
    // callback error, a size mismatch); unheard, they would be thrown.
    zip.on("error", abort);
    pipeline(zip.outputStream, output).catch(abort);
    return writeEntries(zip, root, options, signal);
  };
  const done = start().catch((error: unknown) => {
    const primary = primaryError(error);
    abort(primary);
    throw primary;
  });
  return { output, done, abort, primaryError };
}

function toError(reason: unknown): Error {
  return reason instanceof Error ? reason : new Error(String(reason));
}

async function writeEntries(zip: ZipFile, root: string, options: ResolvedZipOptions, signal: AbortSignal): Promise<number> {
  signal.throwIfAborted();
  const fast = zip instanceof FastZipFile;
  const tree = await readTree(root, signal);
  // Worker threads (when worth starting) also run the `lstat` calls: on the
  // thread pool, each is a thread hand-off that costs more than the call.
  const workerCount = fast && tree.files.length > 0 ? (options.workerThreads ?? defaultWorkerCount()) : 0;
  // A small job starts no workers (that would cost more than the job), but uses them when they are warm.
  const lease =
    workerCount === 0
      ? undefined
      : options.workerThreads !== undefined || tree.files.length >= WORKERS_MIN_FILES
        ? borrowWorkers(workerCount)
        : warmWorkers.borrowIfWarm(workerCount);
  const workers = lease?.workers;
  // A few synchronous `lstat` calls cost less than their thread-pool round trips; many would block.
  const statMany =
    workers !== undefined
      ? (paths: string[]) => workers.stat(paths)
      : tree.files.length < WORKERS_MIN_FILES
        ? async (paths: string[]) => paths.map(lstatFileSync)
        : (paths: string[]) => statOnThreadPool(paths);
  try {
    const items = await statTree(tree, statMany, signal);
    return await writeItems(zip, items, workers, options, signal);
  } finally {
    // Work already sent finishes in the background; the warm pool stays for the next build.
    lease?.release();
  }
}

async function writeItems(
  zip: ZipFile,
  items: (FileItem | DirectoryItem)[],
  workers: SmallFileWorkers | undefined,
  options: ResolvedZipOptions,
  signal: AbortSignal,
): Promise<number> {
  const output = zip.outputStream as PassThrough;
  const fast = zip instanceof FastZipFile;
  const files = items.filter((item): item is FileItem => item.kind === "file");
  const totalEntries = files.length;
  const totalBytes = files.reduce((sum, file) => sum + file.sizeBytes, 0);
  const deterministicMtime = new Date(1980, 0, 1); // local time: the DOS fields read 1980-01-01 00:00 in every zone
  const { deterministic, compressionLevel, onProgress } = options;

  const batchBytes =
    workers === undefined ? BATCH_BYTES : Math.min(BATCH_BYTES, Math.max(MIN_WORKER_BATCH_BYTES, Math.ceil(totalBytes / (2 * workers.count))));
  const units = toUnits(items, batchBytes);
  const limit = pLimit(PREPARE_CONCURRENCY);
  // Main-thread batches run one per turn of the event loop, never back to back.
  const inline = pLimit(1);
  const prepare = (unit: Unit): Promise<(PreparedEntry | Error)[]> => {
    switch (unit.kind) {
      case "directory":
        return Promise.resolve([]);
      case "large":
        return limit(() => prepareLargeFile(unit.item, compressionLevel, signal)).then((entry) => [entry]);
      case "small":
        return workers === undefined
          ? inline(async () => {
              await nextTurn(undefined, { signal });
              return unit.items.map((item) => prepareSmallFile(item, compressionLevel, fast));
            })
          : workers
              .run(unit.items.map((item) => toWorkerJob(item, compressionLevel)), compressionLevel)
              .then((results) => results.map((result, index) => fromWorkerResult(result, unit.items[index]!)));
    }
  };

  const ahead: { unit: Unit; cost: number; prepared: Promise<(PreparedEntry | Error)[]> }[] = [];
  let next = 0;
  let aheadBytes = 0;
  const fill = (): void => {
    while (next < units.length && ahead.length < MAX_AHEAD_UNITS) {
      const unit = units[next]!;
      const cost = unit.kind === "small" ? unit.costBytes : unit.kind === "large" ? SAMPLE_BYTES : 0;
      if (ahead.length > 0 && aheadBytes + cost > MAX_AHEAD_BYTES) break;
      next += 1;
      aheadBytes += cost;
      const prepared = prepare(unit);
      prepared.catch(() => undefined); // awaited in order below; an early failure must not count as unhandled
      ahead.push({ unit, cost, prepared });
    }
  };

  let entries = 0;
  let bytes = 0;
  const added = (sizeBytes: number): void => {
    entries += 1;
    bytes += sizeBytes;
    onProgress?.({ entries, totalEntries, bytes, totalBytes });
  };
  for (fill(); ahead.length > 0; fill()) {
    const { unit, cost, prepared } = ahead.shift()!;
    const results = await untilAborted(prepared, signal);
    if (unit.kind === "directory") {
      const mtime = deterministic ? deterministicMtime : unit.item.mtime;
      zip.addEmptyDirectory(unit.item.name, { mtime, mode: DIRECTORY_MODE, forceDosTimestamp: deterministic });
    } else {
      const unitItems = unit.kind === "small" ? unit.items : [unit.item];
      for (const [index, item] of unitItems.entries()) {
        signal.throwIfAborted();
        const entry = results[index]!;
        if (entry instanceof Error) throw entry;
        const mtime = deterministic ? deterministicMtime : item.mtime;
        const entryOptions = { mtime, mode: entry.executable ? EXECUTABLE_MODE : FILE_MODE, forceDosTimestamp: deterministic, compressionLevel };
        if (entry.kind === "buffer") {
          addBufferEntry(zip, item.name, entry, entryOptions);
          added(entry.sizeBytes);
        } else {
          added(await untilAborted(addStreamEntry(zip, item, { ...entryOptions, compress: entry.compress }, signal), signal));
        }
        if (output.writableNeedDrain) await drained(output, signal);
      }
    }
    aheadBytes -= cost;
  }
  signal.throwIfAborted();
  zip.end();
  return entries;
}

/** Warm worker threads, or `undefined` (the main thread does the work) where they cannot be created. */
function borrowWorkers(count: number): WorkersLease | undefined {
  try {
    return warmWorkers.borrow(count);
  } catch {
    return undefined;
  }
}

/** Groups sorted items into units, keeping their order. */
function toUnits(items: (FileItem | DirectoryItem)[], batchBytes: number): Unit[] {
  const units: Unit[] = [];
  let batch: Extract<Unit, { kind: "small" }> | undefined;
  for (const item of items) {
    if (item.kind === "file" && item.sizeBytes < SMALL_FILE_BYTES) {
      if (batch === undefined || batch.items.length >= BATCH_FILES || batch.costBytes + item.sizeBytes > batchBytes) {
        batch = { kind: "small", items: [], costBytes: 0 };
        units.push(batch);
      }
      batch.items.push(item);
      batch.costBytes += item.sizeBytes;
    } else {
      batch = undefined;
      units.push(item.kind === "file" ? { kind: "large", item } : { kind: "directory", item });
    }
  }
  return units;
}

function toWorkerJob(item: FileItem, compressionLevel: number): WorkerFileJob {
  return { absPath: item.absPath, name: item.name, sizeBytes: item.sizeBytes, store: storeWithoutTrying(item, compressionLevel) };
}

/** Level 0, a type that is compressed already, or too small for deflate to win anything. */
function storeWithoutTrying(item: FileItem, compressionLevel: number): boolean {
  return compressionLevel === 0 || item.sizeBytes < MIN_DEFLATE_BYTES || hasCompressedExtension(item.name);
}

function fromWorkerResult(result: SmallFileResult | Error, item: FileItem): PreparedEntry | Error {
  if (result instanceof Error) return result;
  return {
    kind: "buffer",
    data: result.data,
    method: result.deflated ? "predeflated" : "stored",
    crc32: result.crc32,
    sizeBytes: result.sizeBytes,
    executable: (item.mode & 0o111) !== 0 || result.shebang,
  };
}

interface EntryOptions {
  mtime: Date;
  mode: number;
  forceDosTimestamp: boolean;
  compressionLevel: number;
}

function addBufferEntry(zip: ZipFile, name: string, entry: Extract<PreparedEntry, { kind: "buffer" }>, options: EntryOptions): void {
  const { mtime, mode, forceDosTimestamp, compressionLevel } = options;
  if (zip instanceof FastZipFile) {
    // The CRC-32 is known (native zlib.crc32): yazl need not compute it again.
    const { data, crc32: crc, sizeBytes } = entry;
    zip.addPrecomputed(name, { data, deflated: entry.method === "predeflated", crc32: crc, uncompressedSize: sizeBytes, mtime, mode, forceDosTimestamp });
  } else if (entry.method === "deflate") {
    zip.addBuffer(entry.data, name, { compressionLevel, mtime, mode, forceDosTimestamp });
  } else {
    zip.addBuffer(entry.data, name, { compress: false, mtime, mode, forceDosTimestamp });
  }
}

/**
 * Streams a large file through yazl; resolves with its byte count once read
 * to the end. With {@link FastZipFile}, a file to compress is deflated on
 * several threads (see `parallel-deflate.ts`); otherwise yazl deflates it.
 */
function addStreamEntry(zip: ZipFile, item: FileItem, options: EntryOptions & { compress: boolean }, signal: AbortSignal): Promise<number> {
  const { mtime, mode, forceDosTimestamp, compress, compressionLevel } = options;
  if (compress && zip instanceof FastZipFile) return addParallelDeflatedEntry(zip, item, options, signal);
  return new Promise<number>((resolve, reject) => {
    zip.addReadStreamLazy(
      item.name,
      { mtime, mode, forceDosTimestamp, compress, ...(compress ? { compressionLevel } : {}) },
      (callback) =>
        openEntryStream(item, signal, { resolve, reject }, (error, stream) => callback(error, stream!), (handle) => {
          const stream = handle.createReadStream({ highWaterMark: STREAM_CHUNK_BYTES });
          return { stream, bytesRead: () => stream.bytesRead };
        }),
    );
  });
}

/** Samples a large file: whether it compresses, whether it starts with `#!`. */
function addParallelDeflatedEntry(zip: FastZipFile, item: FileItem, options: EntryOptions, signal: AbortSignal): Promise<number> {
  const { mtime, mode, forceDosTimestamp, compressionLevel } = options;
  return new Promise<number>((resolve, reject) => {
    let deflating: ReturnType<typeof parallelDeflate> | undefined;
    zip.addDeflatedStream(item.name, {
      mtime,
      mode,
      forceDosTimestamp,
      result: () => deflating?.result(),
      open: (callback) =>
        openEntryStream(item, signal, { resolve, reject }, callback, (handle) => {
          const started = parallelDeflate(handle, compressionLevel);
          deflating = started;
          return { stream: started.stream, bytesRead: () => started.result()!.uncompressedSize };
        }),
    });
  });
}

/**
 * The lazy `open` of a large entry: opens the file when yazl asks for it,
 * ties the stream to the build's abort signal, and settles the entry's
 * promise with the bytes read once the stream ends (or with its error:
 * yazl does not listen to errors of lazily added streams).
 */
function openEntryStream(
  item: FileItem,
  signal: AbortSignal,
  entry: { resolve: (bytes: number) => void; reject: (error: unknown) => void },
  callback: (error: unknown, stream?: NodeJS.ReadableStream) => void,
  toStream: (handle: FileHandle) => { stream: NodeJS.ReadableStream & { destroy(): void }; bytesRead: () => number },
): void {
  openRegularFile(item).then(
    (handle) => {
      if (signal.aborted) {
        // The build failed while yazl was still pumping: leave yazl waiting, it is discarded.
        void handle.close();
        entry.reject(signal.reason as unknown);
        return;
      }
      const { stream, bytesRead } = toStream(handle);
      const onAbort = (): void => void stream.destroy();
      signal.addEventListener("abort", onAbort, { once: true });
      stream.once("close", () => signal.removeEventListener("abort", onAbort));
      stream.once("end", () => entry.resolve(bytesRead()));
      stream.once("error", entry.reject);
      callback(null, stream);
    },
    (error: unknown) => {
      entry.reject(error);
      callback(error);
    },
  );
}

async function prepareLargeFile(item: FileItem, compressionLevel: number, signal: AbortSignal): Promise<PreparedEntry> {
  signal.throwIfAborted();
  const handle = await openRegularFile(item);
  try {
    const sample = Buffer.allocUnsafe(SAMPLE_BYTES);
    const { bytesRead } = await handle.read(sample, 0, SAMPLE_BYTES, 0);
    const head = sample.subarray(0, bytesRead);
    const storeByType = compressionLevel === 0 || hasCompressedExtension(item.name);
    const compress = !storeByType && (await sampleCompresses(head));
    return { kind: "stream", compress, executable: (item.mode & 0o111) !== 0 || startsWithShebang(head) };
  } finally {
    await handle.close();
  }
}

/**
 * Prepares a small file on the main thread with the workers' kernel. With a
 * plain `ZipFile` (yazl deflates by itself) only the decision is made here.
 */
function prepareSmallFile(item: FileItem, compressionLevel: number, fast: boolean): PreparedEntry | Error {
  const store = storeWithoutTrying(item, compressionLevel);
  let result: SmallFileResult;
  try {
    result = prepareSmallFileSync({ absPath: item.absPath, sizeBytes: item.sizeBytes, store: store || !fast }, compressionLevel);
  } catch (error) {
    const failure = symlinkError(item.name, error);
    return failure instanceof Error ? failure : new Error(String(failure));
  }
  const executable = (item.mode & 0o111) !== 0 || result.shebang;
  const base = { kind: "buffer", data: result.data, crc32: result.crc32, sizeBytes: result.sizeBytes, executable } as const;
  if (fast) return { ...base, method: result.deflated ? "predeflated" : "stored" };
  return { ...base, method: !store && smallFileMayCompress(result.data) ? "deflate" : "stored" };
}

/**
 * Opens a listed file for streaming, refusing anything that is no longer a
 * regular file (a symbolic link swapped in, a FIFO, a directory).
 * @throws {JobStorageError} `INVALID_PATH` with the entry name as `path`.
 * @throws {NodeJS.ErrnoException} `ENOENT`, `EACCES`, ... from `open`.
 */
async function openRegularFile(item: FileItem): Promise<FileHandle> {
  const handle = await openHandle(item.absPath, READ_FLAGS).catch((error: unknown) => {
    throw symlinkError(item.name, error);
  });
  const stats = await handle.stat().catch(async (error: unknown) => {
    await handle.close();
    throw error;
  });
  if (!stats.isFile()) {
    await handle.close();
    throw new JobStorageError("INVALID_PATH", `"${item.name}" is no longer a regular file`, { path: item.name });
  }
  return handle;
}

/** Waits while yazl's output buffers more than {@link MAX_OUTPUT_BUFFER_BYTES}. */
async function drained(output: PassThrough, signal: AbortSignal): Promise<void> {
  while (output.writableNeedDrain && output.writableLength > MAX_OUTPUT_BUFFER_BYTES) {
    await once(output, "drain", { signal });
  }
}

function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason as unknown);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason as unknown);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(error);
      },
    );
  });
}
