/**
 * Cheap job set-up for the benchmarks.
 *
 * Writing thousands of jobs through the manager would make the set-up longer
 * than the measurement, so a template job is written through the manager
 * once and then cloned: the clone gets the template's `files/` tree (hard
 * links, or real copies where the benchmark deletes the files), its own
 * `job.json` written with the library's own `serializeStatusRecord`, and its
 * rows in the index through the library's own `JobIndex`, so the format
 * cannot drift. A job written this way is indistinguishable from one the
 * manager made.
 */
import fs from "node:fs";
import path from "node:path";
import { JobIndex, type FileRow } from "../src/manager/index-db.js";
import { serializeStatusRecord, type JobRecord } from "../src/manager/record.js";

/** Directories (parents first) and regular files below a root, relative. */
export interface TreeListing {
  dirs: string[];
  files: string[];
}

export function listTree(root: string): TreeListing {
  const listing: TreeListing = { dirs: [], files: [] };
  const visit = (relative: string): void => {
    for (const entry of fs.readdirSync(path.join(root, relative), { withFileTypes: true })) {
      const child = relative === "" ? entry.name : `${relative}/${entry.name}`;
      if (entry.isDirectory()) {
        listing.dirs.push(child);
        visit(child);
      } else if (entry.isFile()) {
        listing.files.push(child);
      }
    }
  };
  visit("");
  return listing;
}

/** Recreates `listing` of `from` below `to` (which must not exist yet), by hard links or copies. */
export function cloneTree(listing: TreeListing, from: string, to: string, how: "link" | "copy"): void {
  fs.mkdirSync(to);
  for (const dir of listing.dirs) fs.mkdirSync(path.join(to, dir));
  for (const file of listing.files) {
    if (how === "link") fs.linkSync(path.join(from, file), path.join(to, file));
    else fs.copyFileSync(path.join(from, file), path.join(to, file));
  }
}

function openIndex(basePath: string): JobIndex {
  return JobIndex.open(path.join(basePath, ".index", "jobs.db"), { fsync: false });
}

/** A job's record and file rows, as the index of `basePath` holds them. */
export function readJobRecord(basePath: string, jobId: string): JobRecord & { rows: FileRow[] } {
  const index = openIndex(basePath);
  try {
    const record = index.getJob(jobId);
    if (!record) throw new Error(`no job ${jobId} in ${basePath}`);
    return { ...record, rows: index.listFiles(jobId) };
  } finally {
    index.close();
  }
}

/**
 * Writes job `record.jobId` below `basePath` with the files of
 * `templateFiles` (a template job's `files/` directory, listed as
 * `listing`), and indexes it with `rows` (the template's file rows), as the
 * manager would have (an adopting open() would hash every file instead).
 */
export function cloneJob(
  basePath: string,
  record: JobRecord,
  rows: FileRow[],
  templateFiles: string,
  listing: TreeListing,
  how: "link" | "copy",
  index?: JobIndex,
): void {
  const dir = path.join(basePath, record.jobId);
  fs.mkdirSync(dir);
  fs.mkdirSync(path.join(dir, "tmp"));
  cloneTree(listing, templateFiles, path.join(dir, "files"), how);
  const { rows: _rows, ...status } = record as JobRecord & { rows?: unknown };
  fs.writeFileSync(path.join(dir, "job.json"), serializeStatusRecord(status));
  const own = index ?? openIndex(basePath);
  try {
    own.transaction(() => {
      own.insertJob(status);
      own.replaceFiles(record.jobId, rows);
    });
  } finally {
    if (!index) own.close();
  }
}

/** A deterministic, UUID-shaped job id (what `createJob` generates, without the randomness). */
export function benchJobId(prefix: string, index: number): string {
  const hex = (index >>> 0).toString(16).padStart(12, "0");
  return `${prefix.padEnd(8, "0").slice(0, 8)}-0000-4000-8000-${hex}`;
}
