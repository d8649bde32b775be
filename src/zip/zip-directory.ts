import { renameSync } from "node:fs";
import { rm } from "node:fs/promises";
import { pipeline } from "node:stream/promises";
import { startArchive } from "./archive.js";
import { resolveZipOptions } from "./options.js";
import { zipTempPath } from "./temp-name.js";
import type { ZipOptions, ZipResult } from "./types.js";
import { ZipOutput } from "./zip-output.js";

/**
 * Zips every regular file below `dir` into `outFile`.
 *
 * - Entry names are relative to `dir`, `/`-separated, sorted by code unit;
 *   dotfiles are included; empty directories become `name/` entries.
 * - Symbolic links are never followed nor archived; FIFOs, sockets and devices are skipped.
 * - A file whose mode has an execute bit, or that starts with `#!`, gets mode
 *   0755; every other file 0644.
 * - Already-compressed types (png, jpg, woff2, zip, gz, mp4, pdf, ...) and data
 *   that deflate would not shrink by 5 % are stored, everything else deflated.
 * - ZIP64 is used when needed (over 65,534 entries or 4 GiB).
 * - The archive is written to `${outFile}.<16 hex digits>.tmp` beside `outFile` and
 *   renamed into place, so `outFile` is complete or absent: on any failure,
 *   including an abort through `options.signal`, the temporary file is removed.
 *   An existing `outFile` is replaced only on success. An archive of up to
 *   1 MiB is held in memory and written with one call at the end; a larger
 *   one is written as it is built.
 *
 * Files under 1 MiB are read, checksummed and deflated by worker threads when
 * there are many (see `workerThreads`), otherwise on the main thread; larger
 * files are streamed. Memory stays bounded however large the files: at most 32 MiB of
 * file data is read ahead, and yazl's output buffers at most 4 MiB.
 *
 * @param dir Directory to archive (it may itself be a symbolic link).
 * @param outFile Path of the ZIP to write; its directory must exist.
 * @returns The number of file entries and the size of the ZIP.
 * @throws {JobStorageError} `INVALID_INPUT` for invalid options (thrown as a rejection).
 * @throws {JobStorageError} `INVALID_PATH` for a name with a backslash (a ZIP
 * entry name cannot hold one), or when a listed file is swapped for a symbolic
 * link or another non-regular file while zipping; `path` is the entry name.
 * @throws {NodeJS.ErrnoException} file system errors, such as `ENOENT` for a
 * missing `dir` or a missing directory of `outFile`.
 * @throws The abort reason of `options.signal` (by default a `DOMException` named `AbortError`).
 * @example
 * ```ts
 * const { entries, sizeBytes } = await zipDirectory("/data/jobs/abc/files", "/data/jobs/abc/project.zip", {
 *   onProgress: ({ entries, totalEntries }) => console.log(`${entries}/${totalEntries}`),
 * });
 * ```
 */
export async function zipDirectory(dir: string, outFile: string, options: ZipOptions = {}): Promise<ZipResult> {
  const resolved = resolveZipOptions(options);
  resolved.signal?.throwIfAborted();
  const tempFile = zipTempPath(outFile);
  const run = startArchive(dir, resolved);
  const out = new ZipOutput(tempFile);
  let renamed = false;
  try {
    const written = pipeline(run.output, out).catch((error: unknown) => {
      run.abort(error);
      throw error;
    });
    const [entries] = await Promise.all([run.done, written]);
    renameSync(tempFile, outFile); // a metadata operation: cheaper than a thread-pool trip
    renamed = true;
    return { entries, sizeBytes: out.bytesWritten };
  } catch (error) {
    throw run.primaryError(error);
  } finally {
    if (!renamed) {
      run.abort(new Error("zipDirectory failed"));
      out.destroy();
      if (!out.closed) await new Promise<void>((resolve) => out.once("close", () => resolve()));
      if (out.created) await rm(tempFile, { force: true });
    }
  }
}
