/**
 * Public shapes the manager takes and returns.
 */
import type { Readable } from "node:stream";
import type { JobStorageErrorCode } from "../errors.js";
import type { JobStatus } from "../schemas.js";
import type { ZipProgress } from "../zip/types.js";

/** What a host sees of a job. Dates are ISO 8601 strings. */
export interface JobMetadata {
  jobId: string;
  userId: string;
  projectName: string;
  /** `expired` once `expiresAt` has passed, whether or not cleanup has run. */
  status: JobStatus;
  createdAt: string;
  expiresAt: string;
  /** Distinct generated files. */
  filesCount: number;
  /** Bytes of the generated files. */
  totalSizeBytes: number;
  zipReady: boolean;
  zipSizeBytes?: number;
  /** SHA-256 of the finished ZIP (hex): a download's strong `ETag`. */
  zipSha256?: string;
  /** Filled from the `downloadUrl` option once the ZIP is ready. */
  downloadUrl?: string;
  /** The URL `uploadZip` stored. */
  s3Url?: string;
  /** Why the job failed (`failJob`). */
  errorMessage?: string;
}

/** Options of `writeFile`. */
export interface WriteFileOptions {
  /** Store the file with mode 0755 (kept in the ZIP). @default false */
  executable?: boolean;
}

/** Result of `writeFile`. */
export interface WriteFileResult {
  /** The normalised path. */
  path: string;
  /** Bytes written. */
  size: number;
  /**
   * `true` when the path already held exactly this content (same SHA-256 and
   * mode): the file was not rewritten and its `modified` time did not move.
   */
  unchanged?: boolean;
}

/** One entry of a {@link WriteFilesResult}. */
export interface WriteFilesEntryResult {
  /** The path as given (normalised when valid). */
  path: string;
  success: boolean;
  size?: number;
  /** `true` when the path already held exactly this content (see {@link WriteFileResult.unchanged}). */
  unchanged?: boolean;
  error?: { code: JobStorageErrorCode; message: string };
}

/** Result of `writeFiles`: partial success is possible. */
export interface WriteFilesResult {
  total: number;
  success: number;
  failed: number;
  results: WriteFilesEntryResult[];
}

/** One generated file, as `listFiles` reports it. */
export interface FileInfo {
  /** Job-relative path with `/` separators. */
  path: string;
  /** The last segment of `path`. */
  name: string;
  size: number;
  modified: Date;
  /** SHA-256 of the content, hex. */
  sha256: string;
}

/** Options of `listFiles`. */
export interface ListFilesOptions {
  /** Only the files below this folder (job-relative, validated like a path), or that file itself. */
  prefix?: string;
}

/** One file as `statFile` reports it. */
export interface FileStat {
  /** Job-relative path with `/` separators. */
  path: string;
  size: number;
  modified: Date;
  /** SHA-256 of the content, hex. */
  sha256: string;
  /** Stored with mode 0755. */
  executable: boolean;
}

/** Options of `moveFile`. */
export interface MoveFileOptions {
  /** Replace a file already at the destination (else `FILE_EXISTS`). @default false */
  overwrite?: boolean;
}

/** Result of `moveFile`. */
export interface MoveFileResult {
  /** The normalised source path. */
  from: string;
  /** The normalised destination path. */
  path: string;
  size: number;
  sha256: string;
  /** Whether a file at the destination was replaced. */
  overwritten: boolean;
}

/** Result of `verifyJob`: the disk re-hashed against the index. Paths are sorted. */
export interface VerifyResult {
  /** No mismatch, nothing missing, nothing unexpected. */
  ok: boolean;
  /** How many indexed files were checked. */
  checked: number;
  /** Indexed files whose content on disk has another SHA-256 or size. */
  mismatched: string[];
  /** Indexed files no longer on disk. */
  missing: string[];
  /** Regular files on disk that the index does not know (written behind the library's back). */
  unexpected: string[];
}

/** Progress against the plan, from `getProgress`. */
export interface JobProgress {
  /** Distinct files the plan names. */
  plannedFiles: number;
  /** How many of those are written. */
  writtenFiles: number;
  /** `writtenFiles / plannedFiles`, 0 to 100, rounded down (0 without a plan). */
  percent: number;
  /** Planned files not written yet, in plan order. */
  missing: string[];
  /** Written files the plan does not name, sorted. */
  unplanned: string[];
  /** Per task: `"Components: 2 missing"`. */
  tasks: { name: string; planned: number; written: number; missing: string[] }[];
}

/** The kinds of change `watch` reports. */
export type JobChangeType = "file:written" | "file:deleted" | "file:moved" | "plan:written" | "job:status";

/** One change of a job, from `watch`. */
export interface JobChange {
  /** Increases with every change of the base path: resume with `watch(jobId, { since: seq })`. */
  seq: number;
  type: JobChangeType;
  /** The file (`file:*`). For `file:moved`, the destination. */
  path?: string;
  /** The source of a `file:moved`. */
  from?: string;
  /** Bytes of the file or plan written. */
  size?: number;
  /** SHA-256 of the file written or moved. */
  sha256?: string;
  /** The new status (`job:status`). */
  status?: JobStatus;
  /** When the change was recorded (ISO 8601). */
  at: string;
}

/** Options of `watch`. */
export interface WatchOptions {
  /** Only changes after this `seq` (a reconnecting client's last one). @default 0: the job's whole history */
  since?: number;
  /** Ends the iteration. */
  signal?: AbortSignal;
}

/** Filter of `listJobs`. */
export interface ListJobsFilter {
  userId?: string;
  status?: JobStatus;
}

/** Options of `deleteJob`. */
export interface DeleteJobOptions {
  /** Keep the ZIP (it is then removed once older than `expiryHours`). @default false */
  keepZip?: boolean;
}

/** A ZIP ready to be sent. The caller must consume or destroy `stream`. */
export interface ZipHandle {
  /** The whole ZIP. Made on first use from the file `openZip` opened; consume or destroy it. */
  readonly stream: Readable;
  size: number;
  /** Download name derived from the project name (`my-react-app.zip`). */
  fileName: string;
  /** Absolute path of the ZIP on disk. */
  path: string;
  /**
   * Bytes `start` to `end` (inclusive) of the ZIP, instead of {@link stream}:
   * read from the file `openZip` opened, so a ZIP removed or rebuilt since
   * still serves the range it was asked for (an HTTP `Range` download).
   * Either this or `stream` is used, once. Optional for other storages
   * behind `ephemeral-jobs/http`, which then reopen `path` for a range.
   */
  readRange?(start: number, end: number): Readable;
}

/** Where `uploadZip` sends a finished ZIP. `ephemeral-jobs/s3` has one for S3. */
export interface ZipUploader {
  upload(input: {
    jobId: string;
    fileName: string;
    stream: Readable;
    size: number;
    contentType: string;
  }): Promise<{ url: string }>;
}

/** Result of `getStats()`. */
export interface StorageStats {
  basePath: string;
  jobCount: number;
  fileCount: number;
  /** Everything the storage holds on disk: files, ZIPs, internal state. */
  totalSizeBytes: number;
  /** `totalSizeBytes` in MiB, two decimals. */
  totalSizeMb: number;
  expiryHours: number;
  jobsByStatus: Record<JobStatus, number>;
  /** Free bytes on the base path's file system (`fs.statfs`). */
  diskFreeBytes: number;
}

/** Options of `cleanupExpired`. */
export interface CleanupOptions {
  /** Only report what would go. @default false */
  dryRun?: boolean;
  /** Stops the cleanup between jobs. */
  signal?: AbortSignal;
}

/** Result of `cleanupExpired`. */
export interface CleanupResult {
  /** Ids of the expired jobs removed (or that would be, with `dryRun`). */
  cleanedJobs: string[];
  /** Bytes freed (or that would be), leftovers included. */
  freedBytes: number;
}

/** Options of `completeJob`. */
export interface CompleteJobOptions {
  /** Progress of the ZIP build, also emitted as `zip:progress`. */
  onProgress?: (progress: ZipProgress) => void;
}

/** The events a manager emits, with their payloads. */
export interface JobStorageEvents {
  "job:created": [{ jobId: string; job: JobMetadata }];
  "job:completed": [{ jobId: string; job: JobMetadata }];
  "job:failed": [{ jobId: string; job: JobMetadata; errorMessage: string }];
  "job:expired": [{ jobId: string; freedBytes: number }];
  "job:deleted": [{ jobId: string; keepZip: boolean }];
  "zip:progress": [{ jobId: string; progress: ZipProgress }];
}
