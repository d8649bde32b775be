/**
 * The generated files of one job, on disk: resolving a validated path without
 * ever following a symbolic link out of `files/`, walking the tree, and
 * reading a file back with its hash (to rebuild or settle the index).
 */
import { createHash, randomUUID } from "node:crypto";
import fsSync, { constants as fsConstants } from "node:fs";
import fs from "node:fs/promises";
import path from "node:path";
import { JobStorageError, errnoCode } from "../errors.js";
import { isPathInsideDirectory } from "../paths/validate.js";

/** One regular file found by {@link walkFiles}. */
export interface WalkedFile {
  /** Job-relative path with `/` separators. */
  path: string;
  size: number;
  mtime: Date;
}

/**
 * Every regular file below `root`, sorted by path. Symbolic links and other
 * special files are skipped, never followed.
 */
export async function walkFiles(root: string): Promise<WalkedFile[]> {
  const found: WalkedFile[] = [];
  async function visit(dir: string, prefix: string): Promise<void> {
    let entries;
    try {
      entries = await fs.readdir(dir, { withFileTypes: true });
    } catch (error) {
      if (errnoCode(error) === "ENOENT" || errnoCode(error) === "ENOTDIR") return;
      throw error;
    }
    await Promise.all(
      entries.map(async (entry) => {
        const relative = prefix === "" ? entry.name : `${prefix}/${entry.name}`;
        const full = path.join(dir, entry.name);
        if (entry.isDirectory()) return visit(full, relative);
        if (!entry.isFile()) return;
        try {
          const stat = await fs.lstat(full);
          if (stat.isFile()) found.push({ path: relative, size: stat.size, mtime: stat.mtime });
        } catch (error) {
          if (errnoCode(error) !== "ENOENT") throw error; // deleted meanwhile
        }
      }),
    );
  }
  await visit(root, "");
  return found.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

function notADirectory(jobId: string, relativePath: string, cause?: unknown): JobStorageError {
  return new JobStorageError(
    "INVALID_PATH",
    `Cannot use path "${relativePath}": a file or link stands where a directory is needed`,
    { jobId, path: relativePath, cause },
  );
}

/** A link or a file stands where a directory of the path is needed. */
class BlockedParent extends Error {}

/**
 * Makes sure the parent directory of `relativePath` exists inside `filesRoot`
 * and is reached without leaving it through a symbolic link, creating missing
 * directories one at a time (so `mkdir -p` can never create anything through
 * a link). Returns the absolute target path.
 *
 * `checkedParents` lets the files of one batch that share a directory check
 * it once.
 *
 * @throws {JobStorageError} `INVALID_PATH` when a link or a file is in the way.
 */
export async function prepareTarget(
  filesRoot: string,
  realFilesRoot: string,
  jobId: string,
  relativePath: string,
  checkedParents?: Map<string, Promise<void>>,
): Promise<string> {
  const parentRelative = path.posix.dirname(relativePath);
  let check = checkedParents?.get(parentRelative);
  if (check === undefined) {
    check = ensureParent(filesRoot, realFilesRoot, parentRelative);
    checkedParents?.set(parentRelative, check);
  }
  try {
    await check;
  } catch (error) {
    if (error instanceof BlockedParent) throw notADirectory(jobId, relativePath, error.cause);
    throw error;
  }
  return path.join(filesRoot, relativePath);
}

/**
 * Whether `dir` (below `filesRoot`) exists as a directory that resolves inside
 * `realFilesRoot`: `false` when it does not exist; `BlockedParent` when a link
 * leads out or a file stands there. Synchronous on purpose: on a directory the
 * kernel has cached it costs microseconds, less than a trip through the thread pool.
 */
function isInsideDirectory(dir: string, realFilesRoot: string): boolean {
  try {
    const real = fsSync.realpathSync.native(dir);
    if (!isPathInsideDirectory(real, realFilesRoot)) throw new BlockedParent("outside");
    if (!fsSync.statSync(real).isDirectory()) throw new BlockedParent("not a directory");
    return true;
  } catch (error) {
    if (error instanceof BlockedParent) throw error;
    const code = errnoCode(error);
    if (code === "ENOTDIR" || code === "ELOOP") throw new BlockedParent(code, { cause: error });
    if (code !== "ENOENT") throw error;
    return false;
  }
}

async function ensureParent(filesRoot: string, realFilesRoot: string, parentRelative: string): Promise<void> {
  // Fast path: the parent exists; one realpath tells whether it stays inside.
  if (isInsideDirectory(path.join(filesRoot, parentRelative), realFilesRoot)) return;
  // Slow path: from the deepest directory that exists (checked the same way), create each
  // missing segment. mkdir never follows a link, and a segment that appeared meanwhile
  // (EEXIST) is checked with lstat; one this call made is a directory by construction.
  const segments = parentRelative === "." ? [] : parentRelative.split("/");
  let existing = 0;
  for (let depth = segments.length - 1; depth > 0 && existing === 0; depth -= 1) {
    if (isInsideDirectory(path.join(filesRoot, ...segments.slice(0, depth)), realFilesRoot)) existing = depth;
  }
  let current = path.join(filesRoot, ...segments.slice(0, existing));
  for (const segment of segments.slice(existing)) {
    current = path.join(current, segment);
    try {
      fsSync.mkdirSync(current); // synchronous for the reason isInsideDirectory is
    } catch (error) {
      const code = errnoCode(error);
      if (code === "ENOTDIR") throw new BlockedParent(code, { cause: error });
      if (code !== "EEXIST") throw error;
      if (!fsSync.lstatSync(current).isDirectory()) throw new BlockedParent("not a directory");
    }
  }
}

/**
 * Resolves an existing file for reading or deleting: its parent must resolve
 * inside `realFilesRoot`. The caller opens the file itself with `O_NOFOLLOW`.
 * Returns `undefined` when a parent is missing or leaves the job.
 */
export async function resolveExisting(
  filesRoot: string,
  realFilesRoot: string,
  relativePath: string,
): Promise<string | undefined> {
  const target = path.join(filesRoot, relativePath);
  try {
    // Synchronous for the reason isInsideDirectory is.
    const realParent = fsSync.realpathSync.native(path.dirname(target));
    return isPathInsideDirectory(realParent, realFilesRoot) ? target : undefined;
  } catch (error) {
    const code = errnoCode(error);
    if (code === "ENOENT" || code === "ENOTDIR" || code === "ELOOP") return undefined;
    throw error;
  }
}

/** A fresh temporary file name inside `dir`. */
export function tempName(dir: string, label = ""): string {
  return path.join(dir, `${label}${randomUUID()}.tmp`);
}

/** The SHA-256 of `data`, hex. */
export function sha256(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

/** A regular file as found on disk, with its hash: what the index records for it. */
export interface FileOnDisk {
  size: number;
  mode: number;
  mtimeMs: number;
  sha256: string;
}

/**
 * Files up to this size are read and hashed with synchronous calls: a few
 * reads from the page cache cost less than their trips through the thread
 * pool and a stream. Larger ones are streamed.
 */
const SYNC_READ_MAX_BYTES = 1024 * 1024;
/** `O_NOFOLLOW`: a link is not followed; `O_NONBLOCK`: a FIFO cannot hang the open. */
const READ_FLAGS = fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW | fsConstants.O_NONBLOCK;

/**
 * Reads and hashes the regular file at `target` without following a link;
 * `undefined` when nothing (or no regular file) is there.
 */
export async function readFileOnDisk(target: string): Promise<FileOnDisk | undefined> {
  let fd: number;
  try {
    fd = fsSync.openSync(target, READ_FLAGS);
  } catch (error) {
    const code = errnoCode(error);
    if (code === "ENOENT" || code === "ELOOP" || code === "ENOTDIR" || code === "EISDIR" || code === "ENXIO") return undefined;
    throw error;
  }
  let streamed = false;
  try {
    const stat = fsSync.fstatSync(fd);
    if (!stat.isFile()) return undefined;
    const hash = createHash("sha256");
    const mode = stat.mode & 0o777;
    if (stat.size <= SYNC_READ_MAX_BYTES) {
      // To the end, also if it grew since the stat: the size is what was hashed.
      const buffer = Buffer.allocUnsafe(Math.min(stat.size + 1, SYNC_READ_MAX_BYTES));
      let size = 0;
      for (let read = fsSync.readSync(fd, buffer, 0, buffer.length, 0); read > 0; read = fsSync.readSync(fd, buffer, 0, buffer.length, size)) {
        hash.update(buffer.subarray(0, read));
        size += read;
      }
      return { size, mode, mtimeMs: stat.mtimeMs, sha256: hash.digest("hex") };
    }
    streamed = true; // the stream closes the descriptor
    for await (const chunk of fsSync.createReadStream("", { fd, start: 0 })) hash.update(chunk as Buffer);
    return { size: stat.size, mode, mtimeMs: stat.mtimeMs, sha256: hash.digest("hex") };
  } finally {
    if (!streamed) fsSync.closeSync(fd);
  }
}
