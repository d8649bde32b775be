/**
 * The per-file work of a small file, synchronous, in one copy: run inside the
 * deflate workers (see `deflate-worker.ts`) and, for small jobs or without
 * workers, on the main thread (see `archive.ts`).
 *
 * Synchronous on purpose: on the libuv pool every `open`/`read`/`close` is a
 * thread hand-off that costs about ten times the CPU of the call itself, and
 * `zlib.deflateRaw` builds a stream per call (about 35 % more CPU than
 * `deflateRawSync` on 20 KB files).
 * @internal
 * @module
 */
import { closeSync, constants, lstatSync, openSync, readSync } from "node:fs";
import { crc32, deflateRawSync } from "node:zlib";
import { JobStorageError } from "../errors.js";
import { smallFileMayCompress, startsWithShebang, worthDeflating } from "./compressibility.js";
import type { FileStats } from "./walk.js";

/** `O_NOFOLLOW`: a file swapped for a symbolic link is refused (`ELOOP`); `O_NONBLOCK`: a FIFO cannot hang `open`. @internal */
export const READ_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

/** Read size once a file has grown past its listed size. */
const GROWTH_CHUNK_BYTES = 64 * 1024;

/** One small file to prepare. @internal */
export interface SmallFileJob {
  absPath: string;
  /** Listed size: the read buffer is one byte larger, to notice growth. */
  sizeBytes: number;
  /** Store without trying to deflate (already-compressed type, level 0, tiny). */
  store: boolean;
}

/** A small file read, checksummed and maybe deflated. @internal */
export interface SmallFileResult {
  /** Deflated data when `deflated`, else the original. */
  data: Buffer;
  deflated: boolean;
  /** CRC-32 of the original data. */
  crc32: number;
  /** Length of the original data. */
  sizeBytes: number;
  /** The original data starts with `#!`. */
  shebang: boolean;
}

/**
 * `lstat` of a listed file.
 * @returns `undefined` when it vanished or is not a regular file.
 * @throws {NodeJS.ErrnoException} any other `lstat` error.
 * @internal
 */
export function lstatFileSync(absPath: string): FileStats | undefined {
  const found = lstatSync(absPath, { throwIfNoEntry: false });
  if (found === undefined || !found.isFile()) return undefined;
  return { sizeBytes: found.size, mode: found.mode, mtimeMs: found.mtimeMs };
}

/**
 * Reads a listed file whole: open ({@link READ_FLAGS}), one read of one byte
 * more than listed (a file that grew since is read to its end), close.
 * @throws {NodeJS.ErrnoException} `ELOOP` when it became a symbolic link, `ENOENT`, `EISDIR`, ...
 * @internal
 */
export function readSmallFileSync(absPath: string, sizeBytes: number): Buffer {
  const fd = openSync(absPath, READ_FLAGS);
  try {
    const first = Buffer.allocUnsafeSlow(sizeBytes + 1);
    const bytesRead = readSync(fd, first, 0, first.length, 0);
    if (bytesRead <= sizeBytes) return first.subarray(0, bytesRead);
    const chunks = [first];
    let position = first.length;
    for (;;) {
      const chunk = Buffer.allocUnsafeSlow(GROWTH_CHUNK_BYTES);
      const more = readSync(fd, chunk, 0, chunk.length, position);
      if (more === 0) return Buffer.concat(chunks);
      chunks.push(chunk.subarray(0, more));
      position += more;
    }
  } finally {
    closeSync(fd);
  }
}

/**
 * Reads `job`'s file, checksums it (native `zlib.crc32`) and deflates it at
 * `level` unless told to store it, it looks random (see
 * `smallFileMayCompress`) or deflating saves less than 5 %.
 * @throws {NodeJS.ErrnoException} from {@link readSmallFileSync}.
 * @internal
 */
export function prepareSmallFileSync(job: SmallFileJob, level: number): SmallFileResult {
  const data = readSmallFileSync(job.absPath, job.sizeBytes);
  const base = { crc32: crc32(data), sizeBytes: data.length, shebang: startsWithShebang(data) };
  if (!job.store && smallFileMayCompress(data)) {
    const deflated = deflateRawSync(data, { level });
    if (worthDeflating(data.length, deflated.length)) return { ...base, data: deflated, deflated: true };
  }
  return { ...base, data, deflated: false };
}

/**
 * `ELOOP` from an `O_NOFOLLOW` open means the file was swapped for a symbolic
 * link: `INVALID_PATH` with the entry name as `path`; any other error as is.
 * @internal
 */
export function symlinkError<E>(name: string, error: E): E | JobStorageError {
  if ((error as NodeJS.ErrnoException | undefined)?.code !== "ELOOP") return error;
  return new JobStorageError("INVALID_PATH", `"${name}" became a symbolic link while zipping`, { path: name, cause: error });
}
