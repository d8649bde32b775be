import type { Readable } from "node:stream";
import { startArchive } from "./archive.js";
import { resolveZipOptions } from "./options.js";
import type { ZipOptions } from "./types.js";

/**
 * The archive `zipDirectory` would write, as a stream (for example to answer
 * an HTTP request without a file on disk). The same entries, order, modes and
 * compression choices apply; `deterministic: true` gives the same bytes.
 *
 * A failure (a read error, an abort through `options.signal`) destroys the
 * stream with the error; destroying the stream stops the build and closes
 * every file it opened.
 *
 * @param dir Directory to archive (it may itself be a symbolic link).
 * @returns A readable stream of ZIP bytes.
 * @throws {JobStorageError} `INVALID_INPUT` for invalid options (synchronously).
 * Later failures are emitted as the stream's `error`: file system errors
 * (`ENOENT` for a missing `dir`, ...), `JobStorageError` `INVALID_PATH` (see
 * `zipDirectory`), or the abort reason of `options.signal`.
 * @example
 * ```ts
 * import { pipeline } from "node:stream/promises";
 *
 * res.setHeader("Content-Type", "application/zip");
 * res.setHeader("Content-Disposition", contentDisposition("my project.zip"));
 * await pipeline(createZipStream(dir, { signal }), res);
 * ```
 */
export function createZipStream(dir: string, options: ZipOptions = {}): Readable {
  const resolved = resolveZipOptions(options);
  const run = startArchive(dir, resolved);
  // A failure destroys `run.output` with the error (see startArchive); a
  // consumer that destroys it early stops the build.
  run.output.once("close", () => {
    if (!run.output.readableEnded) run.abort(new Error("The ZIP stream was closed before its end"));
  });
  run.done.catch(() => undefined); // reported through the stream
  return run.output;
}
