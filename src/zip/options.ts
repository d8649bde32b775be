/**
 * Validation of {@link ZipOptions}: parsed once, defaults applied here.
 * @internal
 * @module
 */
import { z } from "zod";
import { JobStorageError } from "../errors.js";
import { formatIssues } from "../schemas.js";
import type { ZipOptions, ZipProgress } from "./types.js";

/** {@link ZipOptions} after defaults are applied. @internal */
export interface ResolvedZipOptions {
  deterministic: boolean;
  compressionLevel: number;
  /** `undefined`: decided per build. */
  workerThreads: number | undefined;
  onProgress: ((progress: ZipProgress) => void) | undefined;
  signal: AbortSignal | undefined;
}

const ZipOptionsSchema = z.object({
  deterministic: z.boolean().default(false),
  compressionLevel: z.number().int().min(0).max(9).default(6),
  workerThreads: z.number().int().min(0).max(16).optional(),
});

/**
 * Applies defaults and validates `options`; the caller's object is not mutated.
 * @throws {JobStorageError} `INVALID_INPUT`, naming the option, what was expected and what came.
 * @internal
 */
export function resolveZipOptions(options: ZipOptions | undefined): ResolvedZipOptions {
  if (options === undefined) options = {};
  if (typeof options !== "object" || options === null) {
    throw new JobStorageError("INVALID_INPUT", `ZIP options must be an object, got ${options === null ? "null" : typeof options}`);
  }
  const parsed = ZipOptionsSchema.safeParse(options);
  if (!parsed.success) {
    throw new JobStorageError("INVALID_INPUT", `Invalid ZIP option ${formatIssues(parsed.error)}`, { cause: parsed.error });
  }
  const { onProgress, signal } = options;
  if (onProgress !== undefined && typeof onProgress !== "function") {
    throw new JobStorageError("INVALID_INPUT", `Option "onProgress" must be a function, got ${typeof onProgress}`);
  }
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw new JobStorageError("INVALID_INPUT", `Option "signal" must be an AbortSignal, got ${typeof signal}`);
  }
  return { ...parsed.data, workerThreads: parsed.data.workerThreads, onProgress, signal };
}
