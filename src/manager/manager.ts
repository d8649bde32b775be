/**
 * JobStorageManager: per-job storage on local disk, safe for several
 * processes on one base path.
 *
 * The facade validates input, emits events and delegates: the index (SQL)
 * is index-db.ts, content on disk job-files.ts, writes writes.ts, record
 * changes lifecycle.ts, ZIP builds zip-builds.ts, and cleanup, recovery and
 * rebuild maintenance.ts.
 */
import { randomUUID } from "node:crypto";
import { EventEmitter } from "node:events";
import { constants as fsConstants } from "node:fs";
import fs from "node:fs/promises";
import path from "node:path";
import { resolveOptions, type JobStorageOptions, type ResolvedOptions } from "../config.js";
import { JobStorageError, errnoCode, isJobStorageError } from "../errors.js";
import { intervalScheduler } from "../expiry/interval.js";
import type { ExpiryScheduler } from "../expiry/scheduler.js";
import { silentLogger, type Logger } from "../logger.js";
import { validateJobId, validateJobPath } from "../paths/validate.js";
import {
  CreateJobInputSchema,
  FileBatchSchema,
  JOB_STATUSES,
  PlanSchema,
  formatIssues,
  type CreateJobInput,
  type FileContent,
  type FileInput,
  type JobStatus,
  type Plan,
} from "../schemas.js";
import { zipDirectory } from "../zip/index.js";
import {
  assertNotExpired,
  assertWritable,
  createContext,
  flushOutcomes,
  invalidInput,
  requireJob,
  trackWrite,
  transact,
  unlessJobGone,
  type StorageContext,
  type ZipBuilder,
} from "./context.js";
import { mapDiskFull, removeFile, writeFileDurable } from "./fs-utils.js";
import { JobIndex, type IndexedJob } from "./index-db.js";
import { resolveExisting, tempName } from "./job-files.js";
import { BASE_TMP_DIR, INDEX_DIR, OWNERS_DIR, indexFile } from "./layout.js";
import { changeRecord, createJobRecord } from "./lifecycle.js";
import { cleanupExpired, reconcile, removeJob, sizeOf } from "./maintenance.js";
import { OwnerRegistry } from "./owners.js";
import { toMetadata } from "./record.js";
import type {
  CleanupOptions,
  CleanupResult,
  CompleteJobOptions,
  DeleteJobOptions,
  FileInfo,
  FileStat,
  JobChange,
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
  WriteFilesResult,
  ZipHandle,
  ZipUploader,
} from "./types.js";
import { writeBatch } from "./writes.js";
import { deleteFile, moveFile } from "./file-ops.js";
import { progressOf, statFile, verifyJob } from "./inspect.js";
import { ChangeFeed } from "./watch.js";
import { ZipBuilds } from "./zip-builds.js";

const HOUR_MS = 3_600_000;
const MIB = 1024 * 1024;

/**
 * What tests (and unusual hosts) may replace: passed to
 * {@link JobStorageManager.open} beside the options, never through them.
 */
export interface JobStorageSeams {
  /**
   * Opens the index database of a base path (tests wrap or replace it).
   * @default better-sqlite3 at `<basePath>/.index/jobs.db`
   * @internal
   */
  openIndex?: (file: string, options: { fsync: boolean }) => JobIndex;
  /** Builds a job's ZIP. @default zipDirectory */
  zipBuilder?: ZipBuilder;
  /** Runs once, after `close()` has closed the index (`createTestStorage` removes its base path here). */
  afterClose?: () => Promise<void>;
}

function byPath(a: { path: string }, b: { path: string }): number {
  return a.path < b.path ? -1 : a.path > b.path ? 1 : 0;
}

/**
 * Ephemeral per-job file storage on local disk.
 *
 * @example
 * ```ts
 * await using storage = await JobStorageManager.open({ basePath: "/var/jobs" });
 * const job = await storage.createJob({ projectName: "my-react-app" });
 * await storage.writeFiles(job.jobId, [{ path: "src/App.tsx", content: "export {}" }]);
 * await storage.completeJob(job.jobId);
 * const { stream, fileName } = await storage.openZip(job.jobId);
 * ```
 */
export class JobStorageManager extends EventEmitter<JobStorageEvents> implements AsyncDisposable {
  /** The absolute base path. */
  readonly basePath: string;
  /** Hours a new job lives. */
  readonly expiryHours: number;
  /** Largest accepted file, in bytes. */
  readonly maxFileSizeBytes: number;
  /** Largest accepted total of a job's files, in bytes. */
  readonly maxProjectSizeBytes: number;

  readonly #options: ResolvedOptions;
  readonly #logger: Logger;
  readonly #scheduler: ExpiryScheduler;
  readonly #context: StorageContext;
  readonly #zips: ZipBuilds;
  readonly #feed: ChangeFeed;
  readonly #inFlight = new Set<Promise<unknown>>();
  #cleanup: Promise<CleanupResult> | undefined;
  #closing: Promise<void> | undefined;
  #afterClose: (() => Promise<void>) | undefined;
  #jobsCache: { mark: string; jobs: IndexedJob[] } | undefined;

  private constructor(options: ResolvedOptions, realBase: string, index: JobIndex, owners: OwnerRegistry, zipBuilder: ZipBuilder) {
    super();
    this.#options = options;
    this.basePath = options.basePath;
    this.expiryHours = options.expiryHours;
    this.maxFileSizeBytes = options.maxFileSizeBytes;
    this.maxProjectSizeBytes = options.maxProjectSizeBytes;
    this.#logger = options.logger ?? silentLogger;
    this.#scheduler = options.scheduler ?? intervalScheduler({ intervalMs: HOUR_MS });
    this.#context = createContext(options.basePath, realBase, options, {
      index,
      owners,
      logger: this.#logger,
      zipBuilder,
      now: options.now,
      notify: (event, ...args) => this.#notify(event, ...args),
    });
    this.#zips = new ZipBuilds(this.#context);
    this.#feed = new ChangeFeed(this.#context);
  }

  /**
   * Opens (creating if needed) the storage at `options.basePath`, settles
   * whatever a killed process left behind, rebuilds the index from the job
   * directories if it is missing or corrupt, and starts the expiry scheduler.
   *
   * @throws {JobStorageError} `INVALID_INPUT` for a bad option, naming it;
   * `INVALID_STATE` when the native SQLite module cannot be loaded (the message says why).
   */
  static async open(options: JobStorageOptions = {}, seams: JobStorageSeams = {}): Promise<JobStorageManager> {
    const resolved = resolveOptions(options);
    await fs.mkdir(path.join(resolved.basePath, BASE_TMP_DIR), { recursive: true });
    const realBase = await fs.realpath(resolved.basePath);
    const logger = resolved.logger ?? silentLogger;
    const openIndex = seams.openIndex ?? ((file, indexOptions) => JobIndex.open(file, indexOptions));
    const index = openIndex(indexFile(resolved.basePath), { fsync: resolved.fsync });
    let owners: OwnerRegistry;
    try {
      owners = new OwnerRegistry(path.join(resolved.basePath, INDEX_DIR, OWNERS_DIR));
      if (!owners.locked) logger.warn({ basePath: resolved.basePath }, "disk full: running without a liveness lock");
    } catch (error) {
      index.close();
      throw mapDiskFull(error);
    }
    const manager = new JobStorageManager(resolved, realBase, index, owners, seams.zipBuilder ?? zipDirectory);
    manager.#afterClose = seams.afterClose;
    try {
      const adopted = await reconcile(manager.#context);
      if (index.openState !== "existing" && adopted > 0) {
        logger.warn(
          { jobs: adopted, index: index.openState === "created" ? "missing" : "corrupt" },
          index.openState === "created"
            ? "the job index was missing: rebuilt it from the job directories"
            : "the job index was corrupt: moved it aside and rebuilt it from the job directories",
        );
      }
    } catch (error) {
      manager.#shutdownIndex();
      throw error;
    }
    // A failed run is logged, never thrown into the scheduler's timer.
    manager.#scheduler.start(() =>
      manager.cleanupExpired().catch((error: unknown) => {
        manager.#logger.error({ err: error }, "scheduled cleanup failed");
      }),
    );
    return manager;
  }

  // ---------------------------------------------------------------- jobs

  /**
   * Creates a job: its directory and metadata appear at once, complete.
   *
   * @throws {JobStorageError} `INVALID_INPUT`, `INVALID_JOB_ID`, `JOB_EXISTS`, `STORAGE_FULL`.
   */
  async createJob(input: CreateJobInput): Promise<JobMetadata> {
    return this.#track(async () => {
      if (input !== null && typeof input === "object" && input.jobId !== undefined) validateJobId(input.jobId);
      const parsed = CreateJobInputSchema.safeParse(input);
      if (!parsed.success) throw invalidInput(`Invalid job: ${formatIssues(parsed.error)}`, parsed.error);
      const { projectName, userId = "anonymous", jobId = randomUUID(), ttlHours = this.expiryHours } = parsed.data;
      const now = this.#now();
      const record = await createJobRecord(this.#context, {
        jobId,
        userId,
        projectName,
        status: "generating",
        createdAt: now.toISOString(),
        expiresAt: new Date(now.getTime() + ttlHours * HOUR_MS).toISOString(),
        filesCount: 0,
        totalSizeBytes: 0,
        zipReady: false,
      });
      const metadata = toMetadata(record, now);
      this.#notify("job:created", { jobId, job: metadata });
      return metadata;
    });
  }

  /**
   * The job's metadata, from the index (so it includes other processes' writes),
   * or `undefined` when there is no such job.
   *
   * @throws {JobStorageError} `INVALID_JOB_ID`.
   */
  async getJob(jobId: string): Promise<JobMetadata | undefined> {
    validateJobId(jobId);
    const record = this.#context.index.getJob(jobId);
    return record && toMetadata(record, this.#now());
  }

  /** The jobs, newest first, optionally only one user's or one status. */
  async listJobs(filter: ListJobsFilter = {}): Promise<JobMetadata[]> {
    const now = this.#now();
    const jobs: JobMetadata[] = [];
    for (const record of this.#allJobs()) {
      if (filter.userId !== undefined && record.userId !== filter.userId) continue;
      const metadata = toMetadata(record, now);
      if (filter.status === undefined || metadata.status === filter.status) jobs.push(metadata);
    }
    return jobs;
  }

  /**
   * Every job, newest first. Read again only when the index may have changed: a commit by
   * another process moves SQLite's `data_version`, one by this process the local count (a
   * dashboard polling `listJobs` on a quiet base path then costs no query).
   */
  #allJobs(): IndexedJob[] {
    const { index } = this.#context;
    const mark = `${index.dataVersion()}:${index.localCommits}`;
    if (this.#jobsCache?.mark !== mark) this.#jobsCache = { mark, jobs: index.listJobs({ nowMs: 0 }) };
    return this.#jobsCache.jobs;
  }

  /**
   * Marks the job complete and builds its ZIP; resolves when the ZIP is ready.
   * Concurrent calls (and `openZip`), in this process or others, share one
   * build. Calling it on a complete job returns at once.
   *
   * @throws {JobStorageError} `JOB_NOT_FOUND`, `INVALID_STATE` (failed), `JOB_EXPIRED`, `STORAGE_FULL`.
   */
  async completeJob(jobId: string, options: CompleteJobOptions = {}): Promise<JobMetadata> {
    validateJobId(jobId);
    const build = this.#zips.inFlight(jobId) ?? this.#track(() => this.#zips.complete(jobId));
    const { onProgress } = options;
    if (onProgress === undefined) return build;
    // Every caller of a shared build hears its progress, not only the first.
    const listener = (event: JobStorageEvents["zip:progress"][0]): void => {
      if (event.jobId === jobId) onProgress(event.progress);
    };
    this.on("zip:progress", listener);
    try {
      return await build;
    } finally {
      this.off("zip:progress", listener);
    }
  }

  /**
   * Marks the job failed with a message. A failed job takes no more writes.
   *
   * @throws {JobStorageError} `JOB_NOT_FOUND`, `INVALID_STATE` (complete), `JOB_EXPIRED`, `INVALID_INPUT`.
   */
  async failJob(jobId: string, errorMessage: string): Promise<JobMetadata> {
    validateJobId(jobId);
    if (typeof errorMessage !== "string") throw invalidInput("errorMessage must be a string");
    return this.#track(async () => {
      const record = await changeRecord(this.#context, jobId, (current) => {
        assertNotExpired(current, this.#now());
        if (current.status === "complete") {
          throw new JobStorageError("INVALID_STATE", `Job "${jobId}" is complete and cannot fail`, { jobId });
        }
        return { ...current, status: "failed", errorMessage: errorMessage.slice(0, 10_000) };
      });
      const metadata = toMetadata(record, this.#now());
      this.#notify("job:failed", { jobId, job: metadata, errorMessage: record.errorMessage ?? "" });
      return metadata;
    });
  }

  /**
   * Moves `expiresAt` to now + `ttlHours`.
   *
   * @throws {JobStorageError} `JOB_NOT_FOUND`, `JOB_EXPIRED`, `INVALID_INPUT`.
   */
  async extendJob(jobId: string, ttlHours: number): Promise<JobMetadata> {
    validateJobId(jobId);
    if (typeof ttlHours !== "number" || !Number.isFinite(ttlHours) || ttlHours <= 0 || ttlHours > 24 * 365) {
      throw invalidInput(`ttlHours must be a positive number of hours (at most a year), got ${String(ttlHours)}`);
    }
    return this.#track(async () => {
      const record = await changeRecord(this.#context, jobId, (current) => {
        assertNotExpired(current, this.#now());
        return { ...current, expiresAt: new Date(this.#now().getTime() + ttlHours * HOUR_MS).toISOString() };
      });
      return toMetadata(record, this.#now());
    });
  }

  /**
   * Removes the job (and its ZIP unless `keepZip`). Resolves to `false` when
   * there was no such job. Frees space on a full disk too.
   *
   * @throws {JobStorageError} `INVALID_JOB_ID`.
   */
  async deleteJob(jobId: string, options: DeleteJobOptions = {}): Promise<boolean> {
    validateJobId(jobId);
    const keepZip = options.keepZip === true;
    return this.#track(async () => {
      const removed = await removeJob(this.#context, jobId, { keepZip });
      if (removed) this.#notify("job:deleted", { jobId, keepZip });
      return removed;
    });
  }

  // --------------------------------------------------------------- files

  /**
   * Writes one file (replacing it if it exists). The file appears whole or not at all.
   * Identical content (same SHA-256 and mode) leaves the file as it is and answers `unchanged: true`.
   *
   * @throws {JobStorageError} `JOB_NOT_FOUND`, `INVALID_PATH`, `INVALID_INPUT`, `FILE_TOO_LARGE`,
   * `PROJECT_TOO_LARGE`, `INVALID_STATE`, `JOB_EXPIRED`, `STORAGE_FULL`.
   */
  async writeFile(jobId: string, filePath: string, content: FileContent, options: WriteFileOptions = {}): Promise<WriteFileResult> {
    const { results, errors } = await this.#writeBatch(jobId, [{ path: filePath, content, executable: options.executable }]);
    const error = errors.get(0);
    if (error) throw error; // the error itself, with its fields, not the batch's summary of it
    const result: WriteFileResult = { path: results[0]!.path, size: results[0]!.size ?? 0 };
    if (results[0]!.unchanged === true) result.unchanged = true;
    return result;
  }

  /**
   * Writes a batch of files. Each entry succeeds or fails on its own (a bad
   * path, a file over the size limit, the project limit reached); the whole
   * batch fails only for a job-level reason.
   *
   * @throws {JobStorageError} `JOB_NOT_FOUND`, `INVALID_INPUT`, `INVALID_STATE`, `JOB_EXPIRED`.
   */
  async writeFiles(jobId: string, files: FileInput[]): Promise<WriteFilesResult> {
    const { results } = await this.#writeBatch(jobId, files);
    const success = results.filter((entry) => entry.success).length;
    return { total: results.length, success, failed: results.length - success, results };
  }

  #writeBatch(jobId: string, files: FileInput[]): ReturnType<typeof writeBatch> {
    validateJobId(jobId);
    const parsed = FileBatchSchema.safeParse(files);
    if (!parsed.success) return Promise.reject(invalidInput(`Invalid files: ${formatIssues(parsed.error)}`, parsed.error));
    return this.#track(() => writeBatch(this.#context, jobId, parsed.data));
  }

  /**
   * Reads a generated file, as a `Buffer` or, with an encoding, a string.
   *
   * @throws {JobStorageError} `JOB_NOT_FOUND`, `FILE_NOT_FOUND`, `INVALID_PATH`.
   */
  async readFile(jobId: string, filePath: string): Promise<Buffer>;
  async readFile(jobId: string, filePath: string, encoding: BufferEncoding): Promise<string>;
  async readFile(jobId: string, filePath: string, encoding?: BufferEncoding): Promise<Buffer | string> {
    validateJobId(jobId);
    const relative = validateJobPath(filePath);
    const layout = this.#context.layout(jobId);
    const target = await resolveExisting(layout.files, this.#context.realFiles(jobId), relative);
    try {
      if (target === undefined) throw Object.assign(new Error("outside"), { code: "ENOENT" });
      // O_NOFOLLOW: a symbolic link planted at the path is never read through.
      const handle = await fs.open(target, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW);
      try {
        if (!(await handle.stat()).isFile()) throw Object.assign(new Error("not a file"), { code: "EISDIR" });
        return encoding === undefined ? await handle.readFile() : await handle.readFile({ encoding });
      } finally {
        await handle.close();
      }
    } catch (error) {
      const code = errnoCode(error);
      if (code !== "ENOENT" && code !== "ELOOP" && code !== "EISDIR" && code !== "ENOTDIR") throw error;
      requireJob(this.#context, jobId);
      throw new JobStorageError("FILE_NOT_FOUND", `File "${relative}" not found in job "${jobId}"`, { jobId, path: relative, cause: error });
    }
  }

  /**
   * Deletes a generated file (a write: refused on a complete, failed or expired job).
   * Resolves to `true` if a file was removed.
   *
   * @throws {JobStorageError} `JOB_NOT_FOUND`, `INVALID_PATH`, `INVALID_STATE`, `JOB_EXPIRED`, `STORAGE_FULL`.
   */
  async deleteFile(jobId: string, filePath: string): Promise<boolean> {
    validateJobId(jobId);
    const relative = validateJobPath(filePath);
    return this.#track(() => deleteFile(this.#context, jobId, relative));
  }

  /**
   * Renames a generated file inside its job, atomically (agents refactor).
   * Both paths are validated; the counts stay exact.
   *
   * @throws {JobStorageError} `FILE_NOT_FOUND` (no file at `from`), `FILE_EXISTS` (a file at `to`
   * and no `overwrite`), `INVALID_INPUT` (`from` and `to` are the same path), `INVALID_PATH`,
   * `JOB_NOT_FOUND`, `INVALID_STATE`, `JOB_EXPIRED`, `STORAGE_FULL`.
   */
  async moveFile(jobId: string, from: string, to: string, options: MoveFileOptions = {}): Promise<MoveFileResult> {
    validateJobId(jobId);
    const source = validateJobPath(from);
    const target = validateJobPath(to);
    return this.#track(() => moveFile(this.#context, jobId, source, target, options.overwrite === true));
  }

  /**
   * One file's size, modification time, SHA-256 and mode, from the index;
   * `undefined` when there is no such file.
   *
   * @throws {JobStorageError} `JOB_NOT_FOUND`, `INVALID_PATH`.
   */
  async statFile(jobId: string, filePath: string): Promise<FileStat | undefined> {
    validateJobId(jobId);
    return statFile(this.#context, jobId, validateJobPath(filePath));
  }

  /**
   * Re-hashes every file of the job and compares with the index.
   *
   * @throws {JobStorageError} `JOB_NOT_FOUND`.
   */
  async verifyJob(jobId: string): Promise<VerifyResult> {
    validateJobId(jobId);
    return this.#track(() => verifyJob(this.#context, jobId));
  }

  /**
   * Progress against the plan: "12 of 15 files, Components: 2 missing".
   *
   * @throws {JobStorageError} `JOB_NOT_FOUND`.
   */
  async getProgress(jobId: string): Promise<JobProgress> {
    const plan = await this.readPlan(jobId);
    return progressOf(this.#context, jobId, plan);
  }

  /**
   * The job's changes as they are committed, by this process or any other on
   * the base path (seen within about 20 ms): first those after `since` (by
   * default the job's whole history), then each new one. Ends after the job's
   * terminal status (`complete` once its ZIP is ready, or `failed`), when the
   * job is deleted or expires, when `signal` aborts, or when the manager closes.
   *
   * @throws {JobStorageError} `JOB_NOT_FOUND`, `INVALID_INPUT` (a bad `since`).
   * @example
   * ```ts
   * for await (const change of storage.watch(jobId, { signal })) console.log(change.seq, change.type, change.path);
   * ```
   */
  watch(jobId: string, options: WatchOptions = {}): AsyncIterable<JobChange> {
    validateJobId(jobId);
    const since = options.since ?? 0;
    if (!Number.isSafeInteger(since) || since < 0) throw invalidInput(`since must be a non-negative integer, got ${String(options.since)}`);
    if (this.#closing) throw new JobStorageError("INVALID_STATE", "The storage manager is closed");
    requireJob(this.#context, jobId);
    return this.#feed.watch(jobId, since, options.signal);
  }

  /**
   * The generated files, sorted by path, from the index. Never lists internal
   * state, temporary files or symbolic links. With `prefix`, only that folder's subtree.
   *
   * @throws {JobStorageError} `JOB_NOT_FOUND`, `INVALID_PATH` (a bad prefix).
   */
  async listFiles(jobId: string, options: ListFilesOptions = {}): Promise<FileInfo[]> {
    validateJobId(jobId);
    const prefix = options.prefix === undefined || options.prefix === "" ? undefined : validateJobPath(options.prefix.replace(/\/+$/, ""));
    requireJob(this.#context, jobId);
    return this.#context.index
      .listFiles(jobId, prefix)
      .sort(byPath)
      .map((file) => ({
        path: file.path,
        name: path.posix.basename(file.path),
        size: file.size,
        modified: new Date(Math.round(file.mtimeMs)), // rounded as fs.Stats rounds its mtime
        sha256: file.sha256,
      }));
  }

  // ---------------------------------------------------------------- plan

  /**
   * Stores the generation plan (replacing any earlier one).
   *
   * @throws {JobStorageError} `INVALID_INPUT`, `JOB_NOT_FOUND`, `INVALID_STATE`, `JOB_EXPIRED`, `STORAGE_FULL`.
   */
  async writePlan(jobId: string, plan: Plan): Promise<void> {
    validateJobId(jobId);
    const parsed = PlanSchema.safeParse(plan);
    if (!parsed.success) throw invalidInput(`Invalid plan: ${formatIssues(parsed.error)}`, parsed.error);
    const data = Buffer.from(`${JSON.stringify(parsed.data, null, 2)}\n`, "utf8");
    if (data.byteLength > this.#options.maxFileSizeBytes) {
      throw new JobStorageError("FILE_TOO_LARGE", "The plan is over the file size limit", { jobId, limit: this.#options.maxFileSizeBytes });
    }
    await this.#track(() => trackWrite(this.#context, jobId, this.#writePlan(jobId, data)));
  }

  async #writePlan(jobId: string, data: Buffer): Promise<void> {
    const context = this.#context;
    const { index } = context;
    assertWritable(requireJob(context, jobId), this.#now());
    const layout = context.layout(jobId);
    const tmp = tempName(layout.tmp, "plan-");
    try {
      await writeFileDurable(tmp, data, { durable: this.#options.fsync, flag: "wx" });
    } catch (error) {
      await removeFile(tmp).catch(() => {});
      if (errnoCode(error) === "ENOENT") requireJob(context, jobId);
      throw mapDiskFull(error, { jobId });
    }
    let intent: number;
    try {
      intent = transact(
        context,
        () => {
          assertWritable(requireJob(context, jobId), this.#now());
          index.setPlanSize(jobId, data.byteLength);
          return index.addIntent({ owner: context.owners.id, jobId, kind: "plan", path: undefined, fromPath: undefined, tmp });
        },
        { jobId },
      );
    } catch (error) {
      await removeFile(tmp);
      throw error;
    }
    try {
      await fs.rename(tmp, layout.plan);
    } catch (error) {
      await removeFile(tmp).catch(() => {});
      // The plan on disk is the one before: so is its size in the index, and the intent goes.
      const size = await sizeOf(layout.plan);
      transact(context, () => {
        if (index.hasJob(jobId)) index.setPlanSize(jobId, size);
        index.removeIntent(intent);
      });
      throw unlessJobGone(context, jobId, error);
    }
    const at = this.#now().toISOString();
    transact(context, () => {
      index.removeIntent(intent);
      index.addChange({ jobId, type: "plan:written", size: data.byteLength, at });
    });
  }

  /**
   * The plan, or `undefined` when none was written.
   *
   * @throws {JobStorageError} `JOB_NOT_FOUND`.
   */
  async readPlan(jobId: string): Promise<Plan | undefined> {
    validateJobId(jobId);
    const layout = this.#context.layout(jobId);
    try {
      return JSON.parse(await fs.readFile(layout.plan, "utf8")) as Plan;
    } catch (error) {
      if (errnoCode(error) !== "ENOENT") throw error;
      requireJob(this.#context, jobId);
      return undefined;
    }
  }

  // ----------------------------------------------------------------- zip

  /**
   * Opens the finished ZIP for a download. Waits for a build in progress,
   * also one this process started with an unawaited `completeJob`.
   * The caller must consume or destroy `stream`.
   *
   * @throws {JobStorageError} `JOB_NOT_FOUND`, `ZIP_NOT_READY` (not complete), `JOB_EXPIRED`.
   */
  async openZip(jobId: string): Promise<ZipHandle> {
    validateJobId(jobId);
    return this.#zips.open(jobId);
  }

  /**
   * Hands the finished ZIP to `uploader` and stores the URL it returns as `s3Url`.
   * On failure `s3Url` is left as it was and the uploader's error is thrown.
   *
   * @throws {JobStorageError} as `openZip`.
   */
  async uploadZip(jobId: string, uploader: ZipUploader): Promise<JobMetadata> {
    validateJobId(jobId);
    return this.#track(() => this.#zips.upload(jobId, uploader));
  }

  // ------------------------------------------------------- stats, expiry

  /** Totals over every job, from the index (no walk over job directories). */
  async getStats(): Promise<StorageStats> {
    const now = this.#now();
    const totals = this.#context.index.totals(now.getTime());
    const jobsByStatus = Object.fromEntries(JOB_STATUSES.map((status) => [status, 0])) as Record<JobStatus, number>;
    Object.assign(jobsByStatus, totals.byStatus);
    const totalSizeBytes = totals.bytes + totals.keptZipBytes + (await this.#internalBytes());
    const fsStats = await fs.statfs(this.basePath);
    return {
      basePath: this.basePath,
      jobCount: totals.jobCount,
      fileCount: totals.fileCount,
      totalSizeBytes,
      totalSizeMb: Math.round((totalSizeBytes / MIB) * 100) / 100,
      expiryHours: this.expiryHours,
      jobsByStatus,
      diskFreeBytes: fsStats.bavail * fsStats.bsize,
    };
  }

  /** Bytes of the index (database, WAL, shared memory); not the per-process owner locks. */
  async #internalBytes(): Promise<number> {
    let total = 0;
    const dir = path.join(this.basePath, INDEX_DIR);
    for (const entry of await fs.readdir(dir, { withFileTypes: true }).catch(() => [])) {
      if (!entry.isFile()) continue;
      total += await fs.lstat(path.join(dir, entry.name)).then(
        (stat) => stat.size,
        () => 0,
      );
    }
    return total;
  }

  /**
   * Deletes every job past its `expiresAt` (found through the index), and
   * leftovers: jobs whose deletion was interrupted, temporary files and job
   * directories without metadata over an hour old, and ZIPs kept by
   * `deleteJob(id, { keepZip })` once older than `expiryHours`. Never runs
   * twice at once in one process.
   */
  async cleanupExpired(options: CleanupOptions = {}): Promise<CleanupResult> {
    if (this.#cleanup && !options.dryRun) return this.#cleanup;
    const run = this.#track(() => cleanupExpired(this.#context, options.dryRun === true, options.signal));
    if (!options.dryRun) {
      this.#cleanup = run;
      const forget = (): void => {
        if (this.#cleanup === run) this.#cleanup = undefined;
      };
      run.then(forget, forget);
    }
    return run;
  }

  // ------------------------------------------------------------ lifecycle

  /** Stops the scheduler, waits for every operation in flight, and closes the index. Idempotent. */
  async close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#feed.close();
      await this.#scheduler.stop();
      while (this.#inFlight.size > 0) await Promise.allSettled([...this.#inFlight]);
      this.#shutdownIndex();
      await this.#afterClose?.();
    })();
    return this.#closing;
  }

  /** The same as {@link JobStorageManager.close}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /**
   * Whether `dir` holds storage that a manager has opened (it has an index):
   * the CLI uses it to refuse a directory that is not a base path.
   */
  static async isBasePath(dir: string): Promise<boolean> {
    try {
      return (await fs.stat(indexFile(path.resolve(dir)))).isFile();
    } catch (error) {
      if (errnoCode(error) === "ENOENT" || errnoCode(error) === "ENOTDIR") return false;
      throw error;
    }
  }

  // ------------------------------------------------------------ internals

  #shutdownIndex(): void {
    const { index, owners } = this.#context;
    try {
      flushOutcomes(this.#context);
    } catch (error) {
      this.#logger.warn({ err: error }, "could not record the outcome of writes before closing");
    }
    if (this.#context.outcomes.timer) clearTimeout(this.#context.outcomes.timer);
    try {
      index.transaction(() => index.releaseZipBuilds(owners.id));
    } catch (error) {
      // A full disk: the next open() sees this owner is gone and cleans up after it.
      if (!isJobStorageError(mapDiskFull(error))) this.#logger.warn({ err: error }, "could not unregister from the index");
    }
    index.close();
    owners.close();
  }

  /**
   * Emits an event after the change it reports is saved: a listener that
   * throws is logged, and never turns a finished operation into a failure.
   */
  #notify<K extends keyof JobStorageEvents>(event: K, ...args: JobStorageEvents[K]): void {
    try {
      (this.emit as (event: K, ...args: JobStorageEvents[K]) => boolean)(event, ...args);
    } catch (error) {
      this.#logger.error({ err: error, event }, "an event listener threw");
    }
  }

  #now(): Date {
    return this.#options.now();
  }

  /** Counts an operation as in flight until it settles, and refuses new ones after close(). */
  #track<T>(operation: () => Promise<T>): Promise<T> {
    if (this.#closing) {
      return Promise.reject(new JobStorageError("INVALID_STATE", "The storage manager is closed"));
    }
    const promise = operation();
    this.#inFlight.add(promise);
    const settle = (): void => {
      this.#inFlight.delete(promise);
    };
    promise.then(settle, settle);
    return promise;
  }
}

