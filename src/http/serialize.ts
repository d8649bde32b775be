/**
 * The manager's camelCase shapes in the snake_case JSON of the original
 * design guide, so an agent written against that API works unchanged.
 */
import type {
  CleanupResult,
  FileInfo,
  JobMetadata,
  StorageStats,
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
}

export function serializeFile(file: FileInfo): FileJson {
  return { path: file.path, name: file.name, size: file.size, modified: file.modified.toISOString() };
}

/** One entry of a batch result. */
export interface WriteFilesEntryJson {
  path: string;
  success: boolean;
  size?: number;
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
