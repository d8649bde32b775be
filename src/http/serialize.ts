/**
 * The manager's camelCase shapes in the snake_case JSON of the original
 * design guide, so an agent written against that API works unchanged.
 */
import type {
  CleanupResult,
  FileInfo,
  JobChange,
  JobChangeType,
  JobMetadata,
  JobProgress,
  MoveFileResult,
  StorageStats,
  WriteFileResult,
  WriteFilesEntryResult,
  WriteFilesResult,
} from "../manager/types.js";
import type { JobStatus } from "../schemas.js";

const MIB = 1024 * 1024;

/** Bytes in MiB, two decimals (the guide's `total_size_mb`). */
export function toMb(bytes: number): number {
  return Math.round((bytes / MIB) * 100) / 100;
}

/** A job as the REST API returns it. */
export interface JobJson {
  job_id: string;
  user_id: string;
  project_name: string;
  status: JobStatus;
  files_count: number;
  /** MiB, two decimals. */
  total_size_mb: number;
  total_size_bytes: number;
  created_at: string;
  expires_at: string;
  zip_ready: boolean;
  zip_size_bytes: number | null;
  /** SHA-256 of the ZIP (hex), the download's `ETag`; `null` until the ZIP is ready. */
  zip_sha256: string | null;
  /** `null` until the ZIP is ready. */
  download_url: string | null;
  s3_url: string | null;
  error_message: string | null;
}

/**
 * A job in the guide's field names. `download_url` is the manager's
 * `downloadUrl` when it has one, else `fallbackDownloadUrl` once the ZIP is
 * ready, else `null`.
 */
export function serializeJob(job: JobMetadata, fallbackDownloadUrl?: string): JobJson {
  return {
    job_id: job.jobId,
    user_id: job.userId,
    project_name: job.projectName,
    status: job.status,
    files_count: job.filesCount,
    total_size_mb: toMb(job.totalSizeBytes),
    total_size_bytes: job.totalSizeBytes,
    created_at: job.createdAt,
    expires_at: job.expiresAt,
    zip_ready: job.zipReady,
    zip_size_bytes: job.zipSizeBytes ?? null,
    zip_sha256: job.zipSha256 ?? null,
    download_url: job.downloadUrl ?? (job.zipReady ? (fallbackDownloadUrl ?? null) : null),
    s3_url: job.s3Url ?? null,
    error_message: job.errorMessage ?? null,
  };
}

/** One entry of `GET /{id}/files`. */
export interface FileJson {
  path: string;
  name: string;
  size: number;
  /** ISO 8601. */
  modified: string;
  /** SHA-256 of the content, hex (the file's `ETag`). */
  sha256: string;
}

export function serializeFile(file: FileInfo): FileJson {
  return { path: file.path, name: file.name, size: file.size, modified: file.modified.toISOString(), sha256: file.sha256 };
}

/** The answer of `POST /{id}/files`. */
export interface WriteFileJson {
  success: true;
  path: string;
  size: number;
  /** Present (`true`) only when the path already held exactly this content: nothing was rewritten. */
  unchanged?: true;
}

export function serializeWriteFile(result: WriteFileResult): WriteFileJson {
  const json: WriteFileJson = { success: true, path: result.path, size: result.size };
  if (result.unchanged === true) json.unchanged = true;
  return json;
}

/** The answer of `POST /{id}/files/move`. */
export interface MoveFileJson {
  from: string;
  path: string;
  size: number;
  sha256: string;
  overwritten: boolean;
}

export function serializeMove(result: MoveFileResult): MoveFileJson {
  return { from: result.from, path: result.path, size: result.size, sha256: result.sha256, overwritten: result.overwritten };
}

/** The answer of `GET /{id}/progress`. */
export interface ProgressJson {
  planned_files: number;
  written_files: number;
  percent: number;
  missing: string[];
  unplanned: string[];
  tasks: { name: string; planned: number; written: number; missing: string[] }[];
}

export function serializeProgress(progress: JobProgress): ProgressJson {
  return {
    planned_files: progress.plannedFiles,
    written_files: progress.writtenFiles,
    percent: progress.percent,
    missing: [...progress.missing],
    unplanned: [...progress.unplanned],
    tasks: progress.tasks.map((task) => ({ name: task.name, planned: task.planned, written: task.written, missing: [...task.missing] })),
  };
}

/** The `data:` of one `GET /{id}/events` message (the field names are one word: the same as `watch`'s). */
export interface ChangeJson {
  seq: number;
  type: JobChangeType;
  path?: string;
  from?: string;
  size?: number;
  sha256?: string;
  status?: JobStatus;
  at: string;
}

export function serializeChange(change: JobChange): ChangeJson {
  const json: ChangeJson = { seq: change.seq, type: change.type, at: change.at };
  if (change.path !== undefined) json.path = change.path;
  if (change.from !== undefined) json.from = change.from;
  if (change.size !== undefined) json.size = change.size;
  if (change.sha256 !== undefined) json.sha256 = change.sha256;
  if (change.status !== undefined) json.status = change.status;
  return json;
}

/** One entry of a batch result. */
export interface WriteFilesEntryJson {
  path: string;
  success: boolean;
  size?: number;
  /** Present (`true`) only when the path already held exactly this content. */
  unchanged?: true;
  error?: { code: string; message: string };
}

/** The answer of `POST /{id}/files/batch`. */
export interface WriteFilesJson {
  total: number;
  success: number;
  failed: number;
  results: WriteFilesEntryJson[];
}

function serializeEntry(entry: WriteFilesEntryResult): WriteFilesEntryJson {
  const json: WriteFilesEntryJson = { path: entry.path, success: entry.success };
  if (entry.size !== undefined) json.size = entry.size;
  if (entry.unchanged === true) json.unchanged = true;
  if (entry.error !== undefined) json.error = { code: entry.error.code, message: entry.error.message };
  return json;
}

export function serializeWriteFiles(result: WriteFilesResult): WriteFilesJson {
  return { total: result.total, success: result.success, failed: result.failed, results: result.results.map(serializeEntry) };
}

/** The answer of `GET /admin/stats`. */
export interface StatsJson {
  base_path: string;
  job_count: number;
  file_count: number;
  total_size_bytes: number;
  total_size_mb: number;
  expiry_hours: number;
  jobs_by_status: Record<JobStatus, number>;
  disk_free_bytes: number;
}

export function serializeStats(stats: StorageStats): StatsJson {
  return {
    base_path: stats.basePath,
    job_count: stats.jobCount,
    file_count: stats.fileCount,
    total_size_bytes: stats.totalSizeBytes,
    total_size_mb: stats.totalSizeMb,
    expiry_hours: stats.expiryHours,
    jobs_by_status: { ...stats.jobsByStatus },
    disk_free_bytes: stats.diskFreeBytes,
  };
}

/** The answer of `POST /admin/cleanup`: `cleaned_jobs` is a count, as in the guide. */
export interface CleanupJson {
  success: true;
  cleaned_jobs: number;
  cleaned_job_ids: string[];
  freed_bytes: number;
  dry_run: boolean;
}

export function serializeCleanup(result: CleanupResult, dryRun: boolean): CleanupJson {
  return {
    success: true,
    cleaned_jobs: result.cleanedJobs.length,
    cleaned_job_ids: [...result.cleanedJobs],
    freed_bytes: result.freedBytes,
    dry_run: dryRun,
  };
}
