/**
 * Looking at a job's files without changing them: one file's stat, a full
 * re-hash against the index (`verifyJob`), and progress against the plan.
 */
import path from "node:path";
import pLimit from "p-limit";
import { validateJobPath } from "../paths/validate.js";
import type { Plan } from "../schemas.js";
import { requireJob, type StorageContext } from "./context.js";
import { readFileOnDisk, walkFiles } from "./job-files.js";
import type { FileStat, JobProgress, VerifyResult } from "./types.js";

/** The index's view of one file, or `undefined`. */
export function statFile(context: StorageContext, jobId: string, relative: string): FileStat | undefined {
  requireJob(context, jobId);
  const row = context.index.getFile(jobId, relative);
  if (!row) return undefined;
  return { path: row.path, size: row.size, modified: new Date(Math.round(row.mtimeMs)), sha256: row.sha256, executable: (row.mode & 0o111) !== 0 };
}

/**
 * Re-hashes every file on disk and compares with the index: files whose
 * content changed behind the library's back, indexed files that are gone,
 * and files on disk the index does not know.
 */
export async function verifyJob(context: StorageContext, jobId: string): Promise<VerifyResult> {
  requireJob(context, jobId);
  const layout = context.layout(jobId);
  const indexed = new Map(context.index.listFiles(jobId).map((row) => [row.path, row]));
  const onDisk = await walkFiles(layout.files);
  const mismatched: string[] = [];
  const missing: string[] = [];
  const seen = new Set<string>();
  const limit = pLimit(8);
  await Promise.all(
    onDisk.map((file) =>
      limit(async () => {
        if (!indexed.has(file.path)) return;
        seen.add(file.path);
        const disk = await readFileOnDisk(path.join(layout.files, file.path));
        const row = indexed.get(file.path)!;
        if (!disk) missing.push(file.path);
        else if (disk.sha256 !== row.sha256 || disk.size !== row.size) mismatched.push(file.path);
      }),
    ),
  );
  for (const filePath of indexed.keys()) if (!seen.has(filePath)) missing.push(filePath);
  const unexpected = onDisk.map((file) => file.path).filter((filePath) => !indexed.has(filePath));
  const sort = (list: string[]): string[] => list.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return {
    ok: mismatched.length === 0 && missing.length === 0 && unexpected.length === 0,
    checked: indexed.size,
    mismatched: sort(mismatched),
    missing: sort(missing),
    unexpected: sort(unexpected),
  };
}

/** Progress of the job's files against its plan (no plan: nothing planned, every file unplanned). */
export function progressOf(context: StorageContext, jobId: string, plan: Plan | undefined): JobProgress {
  requireJob(context, jobId);
  const written = new Set(context.index.listFiles(jobId).map((row) => row.path));
  const planned = new Set<string>();
  const tasks = (plan?.tasks ?? []).map((task) => {
    const files = [...new Set(task.files.map((file) => validateJobPath(file)))];
    for (const file of files) planned.add(file);
    const missing = files.filter((file) => !written.has(file));
    return { name: task.name, planned: files.length, written: files.length - missing.length, missing };
  });
  const writtenFiles = [...planned].filter((file) => written.has(file)).length;
  return {
    plannedFiles: planned.size,
    writtenFiles,
    percent: planned.size === 0 ? 0 : Math.floor((writtenFiles / planned.size) * 100),
    missing: [...planned].filter((file) => !written.has(file)),
    unplanned: [...written].filter((file) => !planned.has(file)).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)),
    tasks,
  };
}
