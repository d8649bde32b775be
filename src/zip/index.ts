/**
 * ZIP helpers: archive a job directory to a file or a stream.
 * @module
 */
export { zipDirectory } from "./zip-directory.js";
export { createZipStream } from "./zip-stream.js";
export type { ZipOptions, ZipProgress, ZipResult } from "./types.js";
