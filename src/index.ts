/**
 * ephemeral-jobs: per-job ephemeral file storage on local disk.
 * @packageDocumentation
 */
export { JobStorageManager, type JobStorageSeams } from "./manager/manager.js";
export type { ZipBuilder } from "./manager/context.js";
export type {
  CleanupOptions,
  CleanupResult,
  CompleteJobOptions,
  DeleteJobOptions,
  FileInfo,
  FileStat,
  JobChange,
  JobChangeType,
  JobMetadata,
  JobProgress,
  JobStorageEvents,
  ListFilesOptions,
  ListJobsFilter,
  MoveFileOptions,
  MoveFileResult,
  StorageStats,
  VerifyResult,
  WatchOptions,
  WriteFileOptions,
  WriteFileResult,
  WriteFilesEntryResult,
  WriteFilesResult,
  ZipHandle,
  ZipUploader,
} from "./manager/types.js";
export { loadOptionsFromEnv, defaultBasePath, type JobStorageOptions } from "./config.js";
export {
  JobStorageError,
  isJobStorageError,
  JOB_STORAGE_ERROR_CODES,
  type JobStorageErrorCode,
  type JobStorageErrorDetails,
} from "./errors.js";
export {
  validateJobPath,
  isSafeJobPath,
  validateJobId,
  isValidJobId,
  isPathInsideDirectory,
  JOB_ID_PATTERN,
  MAX_PATH_BYTES,
  MAX_SEGMENT_BYTES,
} from "./paths/validate.js";
export {
  PlanSchema,
  CreateJobInputSchema,
  FileInputSchema,
  FileBatchSchema,
  JobIdSchema,
  JobPathSchema,
  JOB_STATUSES,
  type CreateJobInput,
  type FileContent,
  type FileInput,
  type JobStatus,
  type Plan,
  type PlanTask,
} from "./schemas.js";
export { zipDirectory, createZipStream } from "./zip/index.js";
export { contentDisposition } from "./headers/content-disposition.js";
export type { ZipOptions, ZipProgress, ZipResult } from "./zip/types.js";
export type { ExpiryScheduler } from "./expiry/scheduler.js";
export {
  intervalScheduler,
  DEFAULT_INTERVAL_MS,
  MAX_INTERVAL_MS,
  type IntervalSchedulerOptions,
} from "./expiry/interval.js";
export { manualScheduler } from "./expiry/manual.js";
export { cronScheduler, type CronSchedulerOptions } from "./expiry/cron.js";
export type { Logger } from "./logger.js";
