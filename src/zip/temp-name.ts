/**
 * The name of the temporary file a ZIP is written to before it is renamed
 * into place, in one place: `zipDirectory` makes it, and whoever cleans up
 * leftovers of a crash (the manager) recognizes it here rather than with a
 * copy of the format.
 *
 * Format: `<outFile>.<16 lower-case hex digits>.tmp`, beside `outFile`.
 * @internal
 * @module
 */
import { randomBytes } from "node:crypto";

const RANDOM_BYTES = 8;
/** `<target>.<hex>.tmp`; the target is captured. */
const TEMP_NAME = new RegExp(`^(.+)\\.[0-9a-f]{${RANDOM_BYTES * 2}}\\.tmp$`);

/**
 * A fresh temporary path for writing `outFile`: same directory, so the final
 * `rename` never crosses a file system.
 * @example
 * ```ts
 * zipTempPath("/data/abc.zip"); // "/data/abc.zip.3f9c0a1be2d47788.tmp"
 * ```
 * @internal
 */
export function zipTempPath(outFile: string): string {
  return `${outFile}.${randomBytes(RANDOM_BYTES).toString("hex")}.tmp`;
}

/**
 * The file name (not path) of the ZIP that `fileName` is a temporary file
 * of, or `undefined` when `fileName` is not one {@link zipTempPath} makes.
 * @example
 * ```ts
 * zipTempTarget("abc.zip.3f9c0a1be2d47788.tmp"); // "abc.zip"
 * zipTempTarget("abc.zip");                      // undefined
 * ```
 * @internal
 */
export function zipTempTarget(fileName: string): string | undefined {
  return TEMP_NAME.exec(fileName)?.[1];
}

/**
 * Whether `fileName` is a temporary file of a ZIP named `zipFileName`, or,
 * without `zipFileName`, of any ZIP (a target ending in `.zip`).
 * @example
 * ```ts
 * isZipTempName("abc.zip.3f9c0a1be2d47788.tmp");            // true
 * isZipTempName("abc.zip.3f9c0a1be2d47788.tmp", "abc.zip"); // true
 * isZipTempName("abc.zip.3f9c0a1be2d47788.tmp", "xyz.zip"); // false
 * isZipTempName("plan.json.tmp");                           // false
 * ```
 * @internal
 */
export function isZipTempName(fileName: string, zipFileName?: string): boolean {
  const target = zipTempTarget(fileName);
  if (target === undefined) return false;
  return zipFileName === undefined ? target.endsWith(".zip") && target.length > ".zip".length : target === zipFileName;
}
