/**
 * Where everything lives on disk. Generated files sit in their own `files/`
 * directory, so no name an agent picks (`plan.json`, `.job_metadata.json`,
 * `job.json`) can ever collide with, be listed as, or be zipped as internal
 * state.
 *
 * ```text
 * <basePath>/
 *   .index/jobs.db      the index (SQLite, WAL: jobs.db-wal, jobs.db-shm beside it)
 *   .index/owners/<id>  one lock file per open manager: held while its process lives
 *   <jobId>/
 *     job.json          the job's status record, rewritten (temp + rename) on status changes only
 *     plan.json         the plan, replaced atomically
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
  plan: string;
  tmp: string;
  files: string;
  zip: string;
}

export const RECORD_FILE = "job.json";
export const PLAN_FILE = "plan.json";
export const TMP_DIR = "tmp";
export const FILES_DIR = "files";
/** Base-level directory for jobs being created or deleted. */
export const BASE_TMP_DIR = ".tmp";
/** Base-level directory of the index and the owner locks. */
export const INDEX_DIR = ".index";
export const INDEX_FILE = "jobs.db";
export const OWNERS_DIR = "owners";
export const NEW_JOB_PREFIX = "new-";
export const TRASH_PREFIX = "trash-";
export const ZIP_SUFFIX = ".zip";
/**
 * Names a job directory may hold. `job.json.next` and `lock` are the 0.1 format's;
 * a directory holding anything else is not ours to remove.
 */
export const JOB_DIR_ENTRIES: ReadonlySet<string> = new Set([RECORD_FILE, PLAN_FILE, TMP_DIR, FILES_DIR, "job.json.next", "lock"]);

export function jobLayout(basePath: string, jobId: string): JobLayout {
  const dir = path.join(basePath, jobId);
  return {
    dir,
    record: path.join(dir, RECORD_FILE),
    plan: path.join(dir, PLAN_FILE),
    tmp: path.join(dir, TMP_DIR),
    files: path.join(dir, FILES_DIR),
    zip: path.join(basePath, `${jobId}${ZIP_SUFFIX}`),
  };
}

/** The index database of a base path. */
export function indexFile(basePath: string): string {
  return path.join(basePath, INDEX_DIR, INDEX_FILE);
}

