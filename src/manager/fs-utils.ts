/**
 * Small fs helpers the manager shares. Only specific error codes are
 * swallowed, never everything.
 */
import fsSync from "node:fs";
import fs from "node:fs/promises";
import { JobStorageError, errnoCode, isDiskFullError } from "../errors.js";

/**
 * Files up to this size are written with synchronous calls when no fsync is
 * asked for: a write of a few KiB to the page cache costs microseconds,
 * several times less than its trips through libuv's thread pool (open,
 * write, close). Larger files, and every durable write, go through the pool
 * and do not hold the event loop.
 */
export const SYNC_WRITE_MAX_BYTES = 64 * 1024;

/**
 * Writes `data` to `file`, with an fsync before close when `durable`;
 * synchronously when small and not durable (see {@link SYNC_WRITE_MAX_BYTES}).
 */
export async function writeFileDurable(
  file: string,
  data: string | Uint8Array,
  options: { durable: boolean; flag?: string; mode?: number },
): Promise<void> {
  const flag = options.flag ?? "w";
  if (!options.durable) {
    if (Buffer.byteLength(data) <= SYNC_WRITE_MAX_BYTES) fsSync.writeFileSync(file, data, { flag, mode: options.mode });
    else await fs.writeFile(file, data, { flag, mode: options.mode });
    return;
  }
  const handle = await fs.open(file, flag, options.mode);
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Removes a file; a missing one is fine. */
export async function removeFile(file: string): Promise<void> {
  try {
    await fs.unlink(file);
  } catch (error) {
    if (errnoCode(error) !== "ENOENT") throw error;
  }
}

/** Whether anything exists at `file` (links are not followed). */
export async function exists(file: string): Promise<boolean> {
  try {
    await fs.lstat(file);
    return true;
  } catch (error) {
    if (errnoCode(error) === "ENOENT" || errnoCode(error) === "ENOTDIR") return false;
    throw error;
  }
}

/** Turns a full disk into `STORAGE_FULL`; leaves every other error as it is. */
export function mapDiskFull(error: unknown, details: { jobId?: string; path?: string } = {}): unknown {
  if (isDiskFullError(error)) {
    return new JobStorageError("STORAGE_FULL", "No space left on the storage device", { ...details, cause: error });
  }
  return error;
}
