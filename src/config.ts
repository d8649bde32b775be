/**
 * Manager options: parsed once with zod, defaults live in the schema, the
 * caller's object is never mutated. Function-valued options are checked by
 * type, not by zod.
 */
import os from "node:os";
import path from "node:path";
import { z } from "zod";
import { JobStorageError } from "./errors.js";
import type { ExpiryScheduler } from "./expiry/scheduler.js";
import type { Logger } from "./logger.js";
import { formatIssues } from "./schemas.js";

const MIB = 1024 * 1024;

/** Options of `JobStorageManager.open()`. Every one is optional. */
export interface JobStorageOptions {
  /** Directory that holds every job. Created if missing. @default `${os.tmpdir()}/jobs` */
  basePath?: string;
  /** Hours a job lives before it expires. @default 48 */
  expiryHours?: number;
  /** Largest accepted file, in bytes. @default 10 MiB */
  maxFileSizeBytes?: number;
  /** Largest accepted total of a job's files, in bytes. @default 100 MiB */
  maxProjectSizeBytes?: number;
  /**
   * When to run `cleanupExpired()`. Pass `manualScheduler()` to run it yourself.
   * @default intervalScheduler({ intervalMs: 3_600_000 })
   */
  scheduler?: ExpiryScheduler;
  /** Builds the `downloadUrl` a job gets once its ZIP is ready. @default none */
  downloadUrl?: (jobId: string) => string;
  /** The clock, for tests. @default () => new Date() */
  now?: () => Date;
  /** Where to log (pino-compatible subset). @default silent */
  logger?: Logger;
  /**
   * `fsync` every write before acknowledging it, so it survives a power loss,
   * not only a killed process. Costs several times the write itself.
   * @default false
   */
  fsync?: boolean;
  /** ZIP compression level, 0 (store) to 9. @default 6 */
  zipCompressionLevel?: number;
  /** How many files of one batch are written at once. @default 16 */
  writeConcurrency?: number;
}

/** {@link JobStorageOptions} after defaults are applied. */
export interface ResolvedOptions {
  basePath: string;
  expiryHours: number;
  maxFileSizeBytes: number;
  maxProjectSizeBytes: number;
  scheduler: ExpiryScheduler | undefined;
  downloadUrl: ((jobId: string) => string) | undefined;
  now: () => Date;
  logger: Logger | undefined;
  fsync: boolean;
  zipCompressionLevel: number;
  writeConcurrency: number;
}

const positiveInt = z.number().int().positive();

const OptionsSchema = z.object({
  basePath: z.string().min(1).optional(),
  expiryHours: z.number().positive().max(24 * 365).default(48),
  maxFileSizeBytes: positiveInt.default(10 * MIB),
  maxProjectSizeBytes: positiveInt.default(100 * MIB),
  fsync: z.boolean().default(false),
  zipCompressionLevel: z.number().int().min(0).max(9).default(6),
  writeConcurrency: positiveInt.max(1024).default(16),
});

function expectFunction(name: string, value: unknown): void {
  if (value !== undefined && typeof value !== "function") {
    throw new JobStorageError("INVALID_INPUT", `Option "${name}" must be a function, got ${typeof value}`);
  }
}

/** The default base path: `<os.tmpdir()>/jobs`. */
export function defaultBasePath(): string {
  return path.join(os.tmpdir(), "jobs");
}

/**
 * Applies defaults and validates options.
 * @throws {JobStorageError} `INVALID_INPUT`, naming the option.
 * @internal
 */
export function resolveOptions(options: JobStorageOptions = {}): ResolvedOptions {
  if (typeof options !== "object" || options === null) {
    throw new JobStorageError("INVALID_INPUT", "Options must be an object");
  }
  const parsed = OptionsSchema.safeParse(options);
  if (!parsed.success) {
    throw new JobStorageError("INVALID_INPUT", `Invalid option ${formatIssues(parsed.error)}`, {
      cause: parsed.error,
    });
  }
  expectFunction("downloadUrl", options.downloadUrl);
  expectFunction("now", options.now);
  const { scheduler, logger } = options;
  if (
    scheduler !== undefined &&
    (typeof scheduler !== "object" || scheduler === null || typeof scheduler.start !== "function" || typeof scheduler.stop !== "function")
  ) {
    throw new JobStorageError("INVALID_INPUT", 'Option "scheduler" must be an object with start() and stop()');
  }
  if (logger !== undefined && (typeof logger !== "object" || logger === null || typeof logger.warn !== "function")) {
    throw new JobStorageError("INVALID_INPUT", 'Option "logger" must be a logger with debug/info/warn/error methods');
  }
  return {
    ...parsed.data,
    basePath: path.resolve(parsed.data.basePath ?? defaultBasePath()),
    scheduler,
    downloadUrl: options.downloadUrl,
    now: options.now ?? (() => new Date()),
    logger,
  };
}

function readNumber(env: Record<string, string | undefined>, name: string): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw.trim() === "") return undefined;
  const value = Number(raw.trim());
  if (!Number.isFinite(value) || value <= 0 || !/^\d+(\.\d+)?$/.test(raw.trim())) {
    throw new JobStorageError("INVALID_INPUT", `Environment variable ${name} must be a positive number, got ${JSON.stringify(raw)}`);
  }
  return value;
}

/**
 * Reads `JOBS_BASE_PATH`, `JOB_EXPIRY_HOURS`, `MAX_FILE_SIZE_MB` and
 * `MAX_PROJECT_SIZE_MB` (MiB) into options. Unset variables are left out, so
 * the defaults apply.
 *
 * @throws {JobStorageError} `INVALID_INPUT` for a malformed value, naming the variable.
 * @example
 * ```ts
 * const storage = await JobStorageManager.open({ ...loadOptionsFromEnv(), logger });
 * ```
 */
export function loadOptionsFromEnv(env: Record<string, string | undefined> = process.env): JobStorageOptions {
  const options: JobStorageOptions = {};
  const basePath = env.JOBS_BASE_PATH?.trim();
  if (basePath) options.basePath = basePath;
  const expiryHours = readNumber(env, "JOB_EXPIRY_HOURS");
  if (expiryHours !== undefined) options.expiryHours = expiryHours;
  const maxFile = readNumber(env, "MAX_FILE_SIZE_MB");
  if (maxFile !== undefined) options.maxFileSizeBytes = Math.round(maxFile * MIB);
  const maxProject = readNumber(env, "MAX_PROJECT_SIZE_MB");
  if (maxProject !== undefined) options.maxProjectSizeBytes = Math.round(maxProject * MIB);
  return options;
}
