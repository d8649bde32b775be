/**
 * The one error class of the library. Every failure a host can act on is a
 * {@link JobStorageError} with a stable {@link JobStorageErrorCode}.
 */

/** Stable error codes. Changing one is a breaking change. */
export type JobStorageErrorCode =
  | "JOB_NOT_FOUND"
  | "FILE_NOT_FOUND"
  | "FILE_EXISTS"
  | "JOB_EXISTS"
  | "INVALID_JOB_ID"
  | "INVALID_PATH"
  | "INVALID_INPUT"
  | "FILE_TOO_LARGE"
  | "PROJECT_TOO_LARGE"
  | "INVALID_STATE"
  | "JOB_EXPIRED"
  | "ZIP_NOT_READY"
  | "STORAGE_FULL";

/** Every code, in a stable order (useful for tables and exhaustive tests). */
export const JOB_STORAGE_ERROR_CODES: readonly JobStorageErrorCode[] = Object.freeze([
  "JOB_NOT_FOUND",
  "FILE_NOT_FOUND",
  "FILE_EXISTS",
  "JOB_EXISTS",
  "INVALID_JOB_ID",
  "INVALID_PATH",
  "INVALID_INPUT",
  "FILE_TOO_LARGE",
  "PROJECT_TOO_LARGE",
  "INVALID_STATE",
  "JOB_EXPIRED",
  "ZIP_NOT_READY",
  "STORAGE_FULL",
]);

/** Structured fields that travel with a {@link JobStorageError}. */
export interface JobStorageErrorDetails {
  /** The job the failure is about. */
  jobId?: string;
  /** The (job-relative) file path the failure is about. Never an absolute disk path. */
  path?: string;
  /** The limit that was exceeded, in bytes, for size errors. */
  limit?: number;
  /** The underlying error (an fs error, a zod error, ...). */
  cause?: unknown;
}

// A global symbol, so that errors from two installed copies of the package recognise each other.
const BRAND = Symbol.for("ephemeral-jobs.JobStorageError");

/**
 * A failure with a stable {@link JobStorageError.code}.
 *
 * @example
 * ```ts
 * try {
 *   await storage.writeFile(jobId, "../etc/passwd", "x");
 * } catch (error) {
 *   if (isJobStorageError(error, "INVALID_PATH")) console.log(error.path);
 * }
 * ```
 */
export class JobStorageError extends Error {
  override readonly name = "JobStorageError";
  /** The stable error code. */
  readonly code: JobStorageErrorCode;
  /** The job the failure is about, if any. */
  readonly jobId?: string;
  /** The job-relative file path the failure is about, if any. */
  readonly path?: string;
  /** The exceeded limit in bytes, for `FILE_TOO_LARGE` and `PROJECT_TOO_LARGE`. */
  readonly limit?: number;

  constructor(code: JobStorageErrorCode, message: string, details: JobStorageErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.code = code;
    if (details.jobId !== undefined) this.jobId = details.jobId;
    if (details.path !== undefined) this.path = details.path;
    if (details.limit !== undefined) this.limit = details.limit;
    Object.defineProperty(this, BRAND, { value: true });
  }

  /** A plain `{ code, message }` object, safe to send to a client. */
  toJSON(): { code: JobStorageErrorCode; message: string } {
    return { code: this.code, message: this.message };
  }
}

/**
 * True when `error` is a {@link JobStorageError} (from any installed copy of
 * the package), and, when `code` is given, one with that code.
 */
export function isJobStorageError(error: unknown, code?: JobStorageErrorCode): error is JobStorageError {
  if (typeof error !== "object" || error === null) return false;
  if ((error as Record<symbol, unknown>)[BRAND] !== true) return false;
  return code === undefined || (error as JobStorageError).code === code;
}

/** The `code` of a Node.js system error (`ENOENT`, `ENOSPC`, ...), if it has one. */
export function errnoCode(error: unknown): string | undefined {
  if (typeof error === "object" && error !== null && "code" in error) {
    const code = error.code;
    if (typeof code === "string") return code;
  }
  return undefined;
}

/** Whether an fs or SQLite error means the disk (or quota) is full. */
export function isDiskFullError(error: unknown): boolean {
  const code = errnoCode(error);
  return code === "ENOSPC" || code === "EDQUOT" || code === "SQLITE_FULL";
}
