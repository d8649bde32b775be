/**
 * Listing what goes into an archive, in two steps: `readTree` walks the
 * directories (one `readdir` each), then `statTree` gets each file's size,
 * mode and time through a caller-chosen `lstat` (the worker threads when
 * there are some, synchronous calls for a small job, else the libuv thread pool).
 * @internal
 * @module
 */
import type { Dirent } from "node:fs";
import { lstat, readdir } from "node:fs/promises";
import path from "node:path";
import pLimit from "p-limit";
import { JobStorageError } from "../errors.js";

/** A regular file to archive. @internal */
export interface FileItem {
  kind: "file";
  /** Entry name: relative to the root, `/`-separated. */
  name: string;
  absPath: string;
  /** Size when listed, in bytes. */
  sizeBytes: number;
  /** Mode bits when listed. */
  mode: number;
  mtime: Date;
}

/** A directory without any entry below it, archived as `name/`. @internal */
export interface DirectoryItem {
  kind: "directory";
  /** Entry name, ending with `/`. */
  name: string;
  mtime: Date;
}

/** One archive entry to be. @internal */
export type ArchiveItem = FileItem | DirectoryItem;

/** A path found by `readTree`. @internal */
export interface TreePath {
  name: string;
  absPath: string;
}

/** What `readTree` found: regular files (by their directory entry) and empty directories. @internal */
export interface Tree {
  files: TreePath[];
  emptyDirectories: TreePath[];
}

/** The `lstat` fields used here; `undefined` when the path vanished or is no longer a regular file. @internal */
export interface FileStats {
  sizeBytes: number;
  mode: number;
  mtimeMs: number;
}

/** `lstat` for many paths at once, results in order. @internal */
export type StatMany = (absPaths: string[]) => Promise<(FileStats | undefined)[]>;

/** How many `readdir`/`lstat` calls run at once on the thread pool. */
const LIST_CONCURRENCY = 32;

/**
 * Walks `root`: every regular file (dotfiles included) and every empty
 * directory. Symbolic links, FIFOs, sockets and devices are skipped; symbolic
 * links are never followed (only `root` itself may be one).
 * @throws {JobStorageError} `INVALID_PATH` for a file or directory name with a backslash.
 * @throws {NodeJS.ErrnoException} from `readdir` (`ENOENT`, `ENOTDIR`, `EACCES`, ...).
 * @internal
 */
export async function readTree(root: string, signal: AbortSignal): Promise<Tree> {
  const limit = pLimit(LIST_CONCURRENCY);
  const tree: Tree = { files: [], emptyDirectories: [] };

  async function visit(absDir: string, relDir: string): Promise<void> {
    signal.throwIfAborted();
    const dirents: Dirent[] = await limit(() => readdir(absDir, { withFileTypes: true }));
    const subdirectories: Promise<void>[] = [];
    let children = 0;
    for (const dirent of dirents) {
      const name = relDir === "" ? dirent.name : `${relDir}/${dirent.name}`;
      if (dirent.name.includes("\\") && (dirent.isDirectory() || dirent.isFile())) {
        // ZIP names use "/" only; yazl would turn "\\" into "/" and change the name.
        throw new JobStorageError("INVALID_PATH", `"${name}" contains a backslash, which a ZIP entry name cannot hold`, { path: name });
      }
      const absPath = path.join(absDir, dirent.name);
      if (dirent.isDirectory()) {
        children += 1;
        subdirectories.push(visit(absPath, name));
      } else if (dirent.isFile()) {
        children += 1;
        tree.files.push({ name, absPath });
      }
    }
    if (children === 0 && relDir !== "") tree.emptyDirectories.push({ name: `${relDir}/`, absPath: absDir });
    await settleAll(subdirectories);
  }

  await visit(root, "");
  return tree;
}

/**
 * Stats every path of `tree` and returns the archive items sorted by entry
 * name in code-unit order. A file that vanished or stopped being a regular
 * file since `readTree` is left out.
 * @internal
 */
export async function statTree(tree: Tree, statMany: StatMany, signal: AbortSignal): Promise<ArchiveItem[]> {
  signal.throwIfAborted();
  const items: ArchiveItem[] = [];
  const fileStats = await statMany(tree.files.map((file) => file.absPath));
  tree.files.forEach((file, index) => {
    const stats = fileStats[index];
    if (stats !== undefined) items.push({ kind: "file", ...file, ...stats, mtime: new Date(stats.mtimeMs) });
  });
  const directoryStats = await statOnThreadPool(tree.emptyDirectories.map((directory) => directory.absPath), true);
  tree.emptyDirectories.forEach((directory, index) => {
    const stats = directoryStats[index];
    if (stats !== undefined) items.push({ kind: "directory", name: directory.name, mtime: new Date(stats.mtimeMs) });
  });
  signal.throwIfAborted();
  return items.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/**
 * `lstat` on the libuv thread pool, {@link LIST_CONCURRENCY} at a time.
 * `ENOENT` and a type other than a regular file (or a directory, with
 * `directories`) give `undefined`.
 * @throws {NodeJS.ErrnoException} any other `lstat` error.
 * @internal
 */
export async function statOnThreadPool(absPaths: string[], directories = false): Promise<(FileStats | undefined)[]> {
  const limit = pLimit(LIST_CONCURRENCY);
  return Promise.all(
    absPaths.map((absPath) =>
      limit(async () => {
        try {
          const stats = await lstat(absPath);
          if (directories ? !stats.isDirectory() : !stats.isFile()) return undefined;
          return { sizeBytes: stats.size, mode: stats.mode, mtimeMs: stats.mtimeMs };
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
          throw error;
        }
      }),
    ),
  );
}

/** `Promise.all` that waits for every promise before rejecting with the first error. */
async function settleAll(promises: Promise<void>[]): Promise<void> {
  const results = await Promise.allSettled(promises);
  for (const result of results) if (result.status === "rejected") throw result.reason;
}
