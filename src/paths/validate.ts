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
// What Windows forbids in a name (besides controls, '/' and '\\'): `<>:"|?*`.
const WINDOWS_FORBIDDEN = /[<>:"|?*]/;
// Bidirectional embeddings/overrides (U+202A-U+202E) and isolates (U+2066-U+2069):
// they make "evil\u202Etxt.exe" display as "evilexe.txt".
const BIDI_CONTROL = /[\u202a-\u202e\u2066-\u2069]/;
// One scan for the fast path: a path with none of these needs no per-rule look
// (nearly every generated path). The rules below then say which one matched.
// eslint-disable-next-line no-control-regex
const NEEDS_A_CLOSER_LOOK = /[\u0000-\u001f\u007f-\u009f\\<>:"|?*\u202a-\u202e\u2066-\u2069]/;
// A segment of at most this many UTF-16 units is at most 255 UTF-8 bytes (3 bytes
// a unit at most; a surrogate pair is 4 bytes for 2 units), so needs no byte count.
const SEGMENT_UNITS_SURELY_SHORT = Math.floor(MAX_SEGMENT_BYTES / 3);
const PATH_UNITS_SURELY_SHORT = Math.floor(MAX_PATH_BYTES / 3);
// A lone (unpaired) UTF-16 surrogate: not well-formed Unicode. In `u` mode a
// valid pair is one code point, so only unpaired halves match.
const LONE_SURROGATE = /\p{Surrogate}/u;

// Every reserved name starts with one of these letters: most segments need no stem.
const RESERVED_FIRST_LETTER = /^[ACLNP]/i;

/** Whether the part of `name` before its first dot is a Windows device name (`nul.txt`, `Com1 .x`). */
function isReservedStem(name: string): boolean {
  if (!RESERVED_FIRST_LETTER.test(name)) return false;
  const stem = name.split(".", 1)[0]!.toUpperCase();
  return RESERVED_NAMES.has(stem) || RESERVED_NAMES.has(stem.trimEnd());
}

// Shown escaped in messages: JSON.stringify escapes C0 controls, not these,
// and a bidi override would disguise the message itself in a log or terminal.
const UNSHOWABLE = /[\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;

function invalid(path: string, reason: string): JobStorageError {
  const shown = JSON.stringify(path.length > 80 ? `${path.slice(0, 80)}...` : path).replace(
    UNSHOWABLE,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
  return new JobStorageError("INVALID_PATH", `Invalid file path ${shown}: ${reason}`, { path });
}

/**
 * Throws when `segment` holds a character Windows refuses in a name, saying
 * which rule: a device name with a colon (`CON:` opens the console), a drive
 * (`C:` as a later segment), an NTFS stream (`a.txt:s`, `a.txt::$DATA`
 * extract into a hidden stream of `a.txt`), or one of `<>:"|?*`.
 */
function checkWindowsCharacters(path: string, segment: string): void {
  const colon = segment.indexOf(":");
  if (colon !== -1) {
    if (isReservedStem(segment.slice(0, colon))) {
      throw invalid(path, `${JSON.stringify(segment)} is a reserved device name on Windows (a device name followed by ':')`);
    }
    if (DRIVE_PREFIX.test(segment)) {
      throw invalid(path, `segment ${JSON.stringify(segment)} is a drive letter on Windows`);
    }
    throw invalid(
      path,
      `segment ${JSON.stringify(segment)} contains ':', which names an NTFS alternate data stream on Windows ("name:stream")`,
    );
  }
  const forbidden = WINDOWS_FORBIDDEN.exec(segment);
  if (forbidden) {
    throw invalid(path, `the character '${forbidden[0]}' is not allowed in a file name on Windows (none of < > : " | ? *)`);
  }
}

/**
 * Validates a job-relative file path and returns its normalised form.
 *
 * `.` segments and repeated slashes are dropped (`./src//a.ts` becomes
 * `src/a.ts`). Rejected: empty paths, absolute, drive and UNC forms,
 * backslashes, any `..` segment, NUL and control characters, Windows-reserved
 * names (`CON`, `nul.txt`, `Com1.tar.gz`, `aux:`), a segment ending in a dot or a
 * space, a trailing `/`, lone UTF-16 surrogates, a segment over 255 UTF-8
 * bytes and a path over 1024 (measured before normalisation).
 *
 * Also rejected, because the ZIP is often unpacked on Windows, where such
 * names fail to extract or extract as something else: the characters
 * `< > : " | ? *` anywhere (so NTFS streams such as `a.txt:s` and
 * `a.txt::$DATA`, and a drive such as `x/C:/win.ini`), and the Unicode
 * bidirectional overrides and isolates U+202A-U+202E and U+2066-U+2069 (they
 * make `invoice\u202Efdp.exe` display as `invoiceexe.pdf`). Brackets,
 * parentheses and `@` stay legal: `[id]`, `[...slug]`, `(group)`, `(..)photo`,
 * `@modal`. The message says which rule matched.
 *
 * The result is itself valid:
 * `validateJobPath(validateJobPath(p)) === validateJobPath(p)`.
 *
 * @throws {JobStorageError} `INVALID_PATH`, with the offending `path`.
 * @example
 * ```ts
 * validateJobPath("./src//app/[id]/page.tsx"); // "src/app/[id]/page.tsx"
 * validateJobPath("../etc/passwd");            // throws INVALID_PATH
 * validateJobPath("notes.txt:hidden");         // throws INVALID_PATH (NTFS stream)
 * ```
 */
export function validateJobPath(path: string): string {
  if (typeof path !== "string") {
    throw new JobStorageError("INVALID_PATH", "Invalid file path: expected a string");
  }
  if (path.length === 0) throw invalid(path, "it is empty");
  const unusual = NEEDS_A_CLOSER_LOOK.test(path);
  if (unusual && CONTROL_CHARACTER.test(path)) throw invalid(path, "it contains a NUL or control character");
  // Node writes a lone surrogate as U+FFFD, so two different paths would name one file.
  if (LONE_SURROGATE.test(path)) throw invalid(path, "it is not well-formed Unicode (a lone surrogate)");
  if (unusual && path.includes("\\")) throw invalid(path, "backslashes are not allowed; use '/'");
  if (path.startsWith("/")) throw invalid(path, "it must be relative, not absolute");
  if (unusual && DRIVE_PREFIX.test(path)) throw invalid(path, "a drive letter is not allowed");
  if (unusual && BIDI_CONTROL.test(path)) {
    throw invalid(path, "it contains a Unicode bidirectional override or isolate (U+202A-U+202E, U+2066-U+2069), which can disguise a name");
  }
  if (path.endsWith("/")) throw invalid(path, "it names a directory (trailing '/')");
  if (path.length > PATH_UNITS_SURELY_SHORT && Buffer.byteLength(path, "utf8") > MAX_PATH_BYTES) {
    throw invalid(path, `it is longer than ${MAX_PATH_BYTES} bytes`);
  }

  const segments: string[] = [];
  for (const segment of path.split("/")) {
    if (segment === "" || segment === ".") continue;
    if (segment === "..") throw invalid(path, "'..' segments are not allowed");
    if (segment.endsWith(".") || segment.endsWith(" ")) {
      throw invalid(path, `segment ${JSON.stringify(segment)} ends with a dot or a space`);
    }
    if (segment.length > SEGMENT_UNITS_SURELY_SHORT && Buffer.byteLength(segment, "utf8") > MAX_SEGMENT_BYTES) {
      throw invalid(path, `a segment is longer than ${MAX_SEGMENT_BYTES} bytes`);
    }
    if (unusual) checkWindowsCharacters(path, segment);
    if (isReservedStem(segment)) {
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
