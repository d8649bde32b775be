/**
 * Where everything lives on disk. Generated files sit in their own `files/`
 * directory, so no name an agent picks (`plan.json`, `.job_metadata.json`,
 * `job.json`) can ever collide with, be listed as, or be zipped as internal
 * state.
 *
 * ```text
 * <basePath>/
 *   <jobId>/
 *     job.json          metadata, replaced atomically (temp + rename)
 *     job.json.next     the next metadata while a change is in flight; if it
 *                       outlives its writer, counts are rebuilt from the disk
 *     plan.json         the plan, replaced atomically
 *     lock/             inter-process lock (proper-lockfile)
 *     tmp/              content being written, renamed into files/ when done
 *     files/            generated files: the only thing listed and zipped
 *   <jobId>.zip         the finished ZIP (written as <jobId>.zip.<random>.tmp, then renamed)
 *   .tmp/new-<uuid>/    a job being created (renamed to <jobId>/ when complete)
 *   .tmp/trash-<uuid>/  a job being deleted (renamed here first, then removed)
 * ```
 */
import path from "node:path";

/** The paths of one job. */
export interface JobLayout {
  dir: string;
  record: string;
  nextRecord: string;
  plan: string;
  lock: string;
  tmp: string;
  files: string;
  zip: string;
}

export const RECORD_FILE = "job.json";
export const NEXT_RECORD_FILE = "job.json.next";
export const PLAN_FILE = "plan.json";
export const LOCK_DIR = "lock";
export const TMP_DIR = "tmp";
export const FILES_DIR = "files";
/** Base-level directory for jobs being created or deleted. */
export const BASE_TMP_DIR = ".tmp";
export const NEW_JOB_PREFIX = "new-";
export const TRASH_PREFIX = "trash-";
export const ZIP_SUFFIX = ".zip";

export function jobLayout(basePath: string, jobId: string): JobLayout {
  const dir = path.join(basePath, jobId);
  return {
    dir,
    record: path.join(dir, RECORD_FILE),
    nextRecord: path.join(dir, NEXT_RECORD_FILE),
    plan: path.join(dir, PLAN_FILE),
    lock: path.join(dir, LOCK_DIR),
    tmp: path.join(dir, TMP_DIR),
    files: path.join(dir, FILES_DIR),
    zip: path.join(basePath, `${jobId}${ZIP_SUFFIX}`),
  };
}
