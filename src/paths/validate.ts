/**
 * Validation of job-relative file paths and job ids. Pure functions: this
 * module knows nothing of the disk or the manager.
 */
import nodePath from "node:path";
import { JobStorageError } from "../errors.js";

/** Longest accepted path, in UTF-8 bytes. */
export const MAX_PATH_BYTES = 1024;
/** Longest accepted path segment, in UTF-8 bytes. */
export const MAX_SEGMENT_BYTES = 255;
/** The pattern a caller-given job id must match. */
export const JOB_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

// Windows device names, matched on the part of a segment before its first dot, in any case.
const RESERVED_NAMES = new Set([
  "CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$",
  ...Array.from({ length: 9 }, (_, i) => `COM${i + 1}`),
  ...Array.from({ length: 9 }, (_, i) => `LPT${i + 1}`),
  // Superscript digits are reserved too (COM¹, LPT²...).
  "COM¹", "COM²", "COM³", "LPT¹", "LPT²", "LPT³",
]);

// Unicode category Cc: C0 controls, DEL and C1 controls.
// eslint-disable-next-line no-control-regex
const CONTROL_CHARACTER = /[\u0000-\u001f\u007f-\u009f]/;
const DRIVE_PREFIX = /^[A-Za-z]:/;
// A lone (unpaired) UTF-16 surrogate: not well-formed Unicode. In `u` mode a
// valid pair is one code point, so only unpaired halves match.
const LONE_SURROGATE = /\p{Surrogate}/u;

function invalid(path: string, reason: string): JobStorageError {
  const shown = JSON.stringify(path.length > 80 ? `${path.slice(0, 80)}...` : path);
  return new JobStorageError("INVALID_PATH", `Invalid file path ${shown}: ${reason}`, { path });
}

/**
 * Validates a job-relative file path and returns its normalised form.
 *
 * `.` segments and repeated slashes are dropped (`./src//a.ts` becomes
 * `src/a.ts`). Rejected: empty paths, absolute, drive and UNC forms,
 * backslashes, any `..` segment, NUL and control characters, Windows-reserved
 * names (`CON`, `nul.txt`, `Com1.tar.gz`), a segment ending in a dot or a
 * space, a trailing `/`, lone UTF-16 surrogates, a segment over 255 UTF-8
 * bytes and a path over 1024 (measured before normalisation). The result is
 * itself valid: `validateJobPath(validateJobPath(p)) === validateJobPath(p)`.
 *
 * @throws {JobStorageError} `INVALID_PATH`, with the offending `path`.
 * @example
 * ```ts
 * validateJobPath("./src//app/[id]/page.tsx"); // "src/app/[id]/page.tsx"
 * validateJobPath("../etc/passwd");            // throws INVALID_PATH
 * ```
 */
export function validateJobPath(path: string): string {
  if (typeof path !== "string") {
    throw new JobStorageError("INVALID_PATH", "Invalid file path: expected a string");
  }
  if (path.length === 0) throw invalid(path, "it is empty");
  if (CONTROL_CHARACTER.test(path)) throw invalid(path, "it contains a NUL or control character");
  // Node writes a lone surrogate as U+FFFD, so two different paths would name one file.
  if (LONE_SURROGATE.test(path)) throw invalid(path, "it is not well-formed Unicode (a lone surrogate)");
  if (path.includes("\\")) throw invalid(path, "backslashes are not allowed; use '/'");
  if (path.startsWith("/")) throw invalid(path, "it must be relative, not absolute");
  if (DRIVE_PREFIX.test(path)) throw invalid(path, "a drive letter is not allowed");
  if (path.endsWith("/")) throw invalid(path, "it names a directory (trailing '/')");
  if (Buffer.byteLength(path, "utf8") > MAX_PATH_BYTES) {
    throw invalid(path, `it is longer than ${MAX_PATH_BYTES} bytes`);
  }

  const segments: string[] = [];
  for (const segment of path.split("/")) {
    if (segment === "" || segment === ".") continue;
    if (segment === "..") throw invalid(path, "'..' segments are not allowed");
    if (segment.endsWith(".") || segment.endsWith(" ")) {
      throw invalid(path, `segment ${JSON.stringify(segment)} ends with a dot or a space`);
    }
    if (Buffer.byteLength(segment, "utf8") > MAX_SEGMENT_BYTES) {
      throw invalid(path, `a segment is longer than ${MAX_SEGMENT_BYTES} bytes`);
    }
    const stem = segment.split(".", 1)[0]!.toUpperCase();
    if (RESERVED_NAMES.has(stem) || RESERVED_NAMES.has(stem.trimEnd())) {
      throw invalid(path, `${JSON.stringify(segment)} is a reserved device name on Windows`);
    }
    segments.push(segment);
  }
  if (segments.length === 0) throw invalid(path, "it names no file");
  const normalised = segments.join("/");
  // Checked again after normalisation: "./C:x" must not become the drive-relative "C:x".
  if (DRIVE_PREFIX.test(normalised)) throw invalid(path, "a drive letter is not allowed");
  return normalised;
}

/**
 * The boolean form of {@link validateJobPath}.
 *
 * @example
 * ```ts
 * isSafeJobPath("src/app/(marketing)/layout.tsx"); // true
 * isSafeJobPath("C:\\Windows\\win.ini");          // false
 * ```
 */
export function isSafeJobPath(path: string): boolean {
  try {
    validateJobPath(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Checks a job id against {@link JOB_ID_PATTERN} and returns it.
 *
 * @throws {JobStorageError} `INVALID_JOB_ID`.
 */
export function validateJobId(jobId: string): string {
  if (typeof jobId !== "string" || !JOB_ID_PATTERN.test(jobId)) {
    const shown = typeof jobId === "string" ? JSON.stringify(jobId.slice(0, 80)) : typeof jobId;
    throw new JobStorageError(
      "INVALID_JOB_ID",
      `Invalid job id ${shown}: expected 1 to 64 letters, digits, '_' or '-', starting with a letter or digit`,
    );
  }
  return jobId;
}

/** Whether a job id is well-formed (see {@link JOB_ID_PATTERN}). */
export function isValidJobId(jobId: string): boolean {
  return typeof jobId === "string" && JOB_ID_PATTERN.test(jobId);
}

/**
 * Whether `child` is `parent` itself or lies below it, on this platform's
 * path rules. Both must be absolute (resolve symbolic links first, for
 * example with `fs.realpath`, if they matter); a relative one gives `false`.
 * No I/O is done here. `..` segments and trailing separators are taken into
 * account, and a sibling that merely shares a prefix (`/base/job-evil` for
 * `/base/job`) is outside.
 *
 * @example
 * ```ts
 * isPathInsideDirectory("/base/job/src/a.ts", "/base/job"); // true
 * isPathInsideDirectory("/base/job-evil/a.ts", "/base/job"); // false
 * isPathInsideDirectory("/base/job/../x", "/base/job");      // false
 * ```
 */
export function isPathInsideDirectory(child: string, parent: string): boolean {
  if (typeof child !== "string" || typeof parent !== "string") return false;
  if (!nodePath.isAbsolute(child) || !nodePath.isAbsolute(parent)) return false;
  const relative = nodePath.relative(parent, child);
  if (relative === "") return true;
  return relative !== ".." && !relative.startsWith(`..${nodePath.sep}`) && !nodePath.isAbsolute(relative);
}
