/**
 * JobStorageManager: per-job storage on local disk, safe for several
 * processes on one base path.
 *
 * Every change to a job runs in two nested sections: an in-process queue per
 * job (so this process takes the job's lock once for many queued writes, the
 * "group commit"), then the job's inter-process lock. Inside it the manager
 * reads `job.json` fresh from disk, writes the next record to `job.json.next`,
 * moves the new content into place, and renames `job.json.next` over
 * `job.json`. A `job.json.next` found by the next holder of the lock means its
 * writer died mid-change: the counts are then rebuilt from the disk.
 */
import { randomUUID } from "node:crypto";
import { EventEmitter } from "node:events";
import { constants as fsConstants } from "node:fs";
import fs from "node:fs/promises";
import path from "node:path";
import pLimit from "p-limit";
import { resolveOptions, type JobStorageOptions, type ResolvedOptions } from "../config.js";
import { JobStorageError, errnoCode, isDiskFullError, isJobStorageError } from "../errors.js";
import { intervalScheduler } from "../expiry/interval.js";
import type { ExpiryScheduler } from "../expiry/scheduler.js";
import { silentLogger, type Logger } from "../logger.js";
import { isValidJobId, validateJobId, validateJobPath } from "../paths/validate.js";
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
import { exists, mapDiskFull, removeFile, writeFileDurable } from "./fs-utils.js";
import { measureFiles, prepareTarget, resolveExisting, tempName, walkFiles } from "./job-files.js";
import {
  BASE_TMP_DIR,
  FILES_DIR,
  LOCK_DIR,
  NEW_JOB_PREFIX,
  NEXT_RECORD_FILE,
  PLAN_FILE,
  RECORD_FILE,
  TMP_DIR,
  TRASH_PREFIX,
  ZIP_SUFFIX,
  jobLayout,
  type JobLayout,
} from "./layout.js";
import { acquireLock } from "./lock.js";
import { isExpired, readRecord, serializeRecord, toMetadata, type JobRecord } from "./record.js";
import type {
  CleanupOptions,
  CleanupResult,
  CompleteJobOptions,
  DeleteJobOptions,
  FileInfo,
  JobMetadata,
  JobStorageEvents,
  ListJobsFilter,
  StorageStats,
  WriteFileOptions,
  WriteFileResult,
  WriteFilesEntryResult,
  WriteFilesResult,
  ZipHandle,
  ZipUploader,
} from "./types.js";

const HOUR_MS = 3_600_000;
const MIB = 1024 * 1024;
/** A ZIP being written: `<jobId>.zip.<random>.tmp` (see zipDirectory). */
const ZIP_TEMP_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}\.zip\.[0-9a-f]+\.tmp$/;
/** What a job directory may hold (a directory holding anything else is not ours to remove). */
const JOB_DIR_ENTRIES = new Set([RECORD_FILE, NEXT_RECORD_FILE, PLAN_FILE, LOCK_DIR, TMP_DIR, FILES_DIR]);
/** Temporary files and directories without metadata are leftovers once this old. */
const LEFTOVER_AGE_MS = HOUR_MS;

/** Internal options, for tests that need a lock to go stale quickly. */
interface InternalOptions {
  /** @internal */
  lockStaleMs?: number;
}

/** A file of a write, with its content already in a temporary file. */
interface StagedWrite {
  path: string;
  size: number;
  tmp: string;
  target: string;
}

/** What became of one staged write. */
type WriteOutcome = { ok: true } | { ok: false; error: JobStorageError };

/** A job's state, as an operation inside the lock sees it. */
interface JobTransaction {
  readonly layout: JobLayout;
  readonly record: JobRecord;
  /**
   * Stages `next` as `job.json.next`, runs `apply` (the change on disk), then
   * makes `next` the job's record. Resolves to `next`.
   */
  commit(next: JobRecord, apply?: () => Promise<void>): Promise<JobRecord>;
}

interface PendingWrites {
  items: StagedWrite[];
  done: Promise<WriteOutcome[]>;
}

interface IndexEntry {
  record: JobRecord;
  recordSize: number;
  mtimeMs: number;
  ino: number;
}

function contentToBuffer(content: FileContent): Buffer {
  if (typeof content === "string") return Buffer.from(content, "utf8");
  return Buffer.from(content.buffer, content.byteOffset, content.byteLength);
}

function notFound(jobId: string): JobStorageError {
  return new JobStorageError("JOB_NOT_FOUND", `Job "${jobId}" not found`, { jobId });
}

function invalidInput(message: string, cause?: unknown): JobStorageError {
  return new JobStorageError("INVALID_INPUT", message, { cause });
}

/** A download name for a project: no separators or control characters. */
function zipFileName(projectName: string): string {
  // eslint-disable-next-line no-control-regex
  const cleaned = projectName.replace(/[/\\\u0000-\u001f\u007f-\u009f]+/g, "_").trim().slice(0, 150);
  return `${cleaned === "" ? "project" : cleaned}${ZIP_SUFFIX}`;
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
  readonly #lockStaleMs: number;
  /** The real path of the base, so symlink checks compare like with like. */
  readonly #realBase: string;
  readonly #queues = new Map<string, Promise<unknown>>();
  readonly #pendingWrites = new Map<string, PendingWrites>();
  readonly #zipBuilds = new Map<string, Promise<JobMetadata>>();
  readonly #inFlight = new Set<Promise<unknown>>();
  readonly #index = new Map<string, IndexEntry>();
  #cleanup: Promise<CleanupResult> | undefined;
  #closing: Promise<void> | undefined;

  private constructor(options: ResolvedOptions, realBase: string, internal: InternalOptions) {
    super();
    this.#options = options;
    this.basePath = options.basePath;
    this.expiryHours = options.expiryHours;
    this.maxFileSizeBytes = options.maxFileSizeBytes;
    this.maxProjectSizeBytes = options.maxProjectSizeBytes;
    this.#logger = options.logger ?? silentLogger;
    this.#scheduler = options.scheduler ?? intervalScheduler({ intervalMs: HOUR_MS });
    this.#lockStaleMs = internal.lockStaleMs ?? 10_000;
    this.#realBase = realBase;
  }

  /**
   * Opens (creating if needed) the storage at `options.basePath`, recovers
   * whatever a killed process left behind, and starts the expiry scheduler.
   *
   * @throws {JobStorageError} `INVALID_INPUT` for a bad option, naming it.
   */
  static async open(options: JobStorageOptions = {}): Promise<JobStorageManager> {
    const resolved = resolveOptions(options);
    await fs.mkdir(path.join(resolved.basePath, BASE_TMP_DIR), { recursive: true });
    const realBase = await fs.realpath(resolved.basePath);
    const manager = new JobStorageManager(resolved, realBase, options as InternalOptions);
    await manager.#recoverAll();
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
      const record: JobRecord = {
        version: 1,
        jobId,
        userId,
        projectName,
        status: "generating",
        createdAt: now.toISOString(),
        expiresAt: new Date(now.getTime() + ttlHours * HOUR_MS).toISOString(),
        filesCount: 0,
        totalSizeBytes: 0,
        zipReady: false,
      };
      const layout = this.#layout(jobId);
      // Build the job in a staging directory and rename it into place, so a
      // job directory never exists without its metadata.
      const staging = path.join(this.basePath, BASE_TMP_DIR, `${NEW_JOB_PREFIX}${randomUUID()}`);
      const staged = jobLayout(path.dirname(staging), path.basename(staging));
      try {
        // One directory at a time below .tmp/ (re-made if someone removed it): a recursive
        // mkdir reports ENOENT, not ENOSPC, when it runs out of inodes.
        await fs.mkdir(path.dirname(staging), { recursive: true });
        await fs.mkdir(staging);
        await fs.mkdir(staged.files);
        await fs.mkdir(staged.tmp);
        await writeFileDurable(staged.record, serializeRecord(record), { durable: this.#options.fsync });
        await fs.rename(staging, layout.dir);
      } catch (error) {
        await fs.rm(staging, { recursive: true, force: true });
        const code = errnoCode(error);
        if (code === "ENOTEMPTY" || code === "EEXIST" || code === "ENOTDIR" || code === "EISDIR") {
          throw new JobStorageError("JOB_EXISTS", `Job "${jobId}" already exists`, { jobId, cause: error });
        }
        throw mapDiskFull(error, { jobId });
      }
      const metadata = toMetadata(record, now);
      this.#notify("job:created", { jobId, job: metadata });
      return metadata;
    });
  }

  /**
   * The job's metadata, read from disk (so it includes other processes' writes),
   * or `undefined` when there is no such job.
   *
   * @throws {JobStorageError} `INVALID_JOB_ID`.
   */
  async getJob(jobId: string): Promise<JobMetadata | undefined> {
    validateJobId(jobId);
    const record = await readRecord(this.#layout(jobId).record);
    return record && toMetadata(record, this.#now());
  }

  /** The jobs, newest first, optionally only one user's or one status. */
  async listJobs(filter: ListJobsFilter = {}): Promise<JobMetadata[]> {
    const now = this.#now();
    const entries = await this.#refreshIndex();
    const jobs: JobMetadata[] = [];
    for (const entry of entries.values()) {
      const metadata = toMetadata(entry.record, now);
      if (filter.userId !== undefined && metadata.userId !== filter.userId) continue;
      if (filter.status !== undefined && metadata.status !== filter.status) continue;
      jobs.push(metadata);
    }
    return jobs.sort((a, b) => (a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : a.jobId < b.jobId ? -1 : 1));
  }

  /**
   * Marks the job complete and builds its ZIP; resolves when the ZIP is ready.
   * Concurrent calls (and `openZip`) share one build. Calling it on a
   * complete job returns at once.
   *
   * @throws {JobStorageError} `JOB_NOT_FOUND`, `INVALID_STATE` (failed), `JOB_EXPIRED`, `STORAGE_FULL`.
   */
  async completeJob(jobId: string, options: CompleteJobOptions = {}): Promise<JobMetadata> {
    validateJobId(jobId);
    let build = this.#zipBuilds.get(jobId);
    if (!build) {
      const started = this.#track(() => this.#withJob(jobId, (tx) => this.#buildZip(tx)));
      const forget = (): void => {
        if (this.#zipBuilds.get(jobId) === started) this.#zipBuilds.delete(jobId);
      };
      started.then(forget, forget);
      this.#zipBuilds.set(jobId, started);
      build = started;
    }
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

  async #buildZip(tx: JobTransaction): Promise<JobMetadata> {
    const { layout } = tx;
    let record = tx.record;
    const jobId = record.jobId;
    this.#assertNotExpired(record);
    if (record.status === "failed") {
      throw new JobStorageError("INVALID_STATE", `Job "${jobId}" has failed and cannot be completed`, { jobId });
    }
    if (record.status === "complete" && record.zipReady && (await exists(layout.zip))) {
      return toMetadata(record, this.#now());
    }
    // Complete first: from here on every write is refused, so the ZIP matches the files.
    if (record.status !== "complete") record = await tx.commit({ ...record, status: "complete", zipReady: false });
    let result;
    try {
      result = await zipDirectory(layout.files, layout.zip, {
        compressionLevel: this.#options.zipCompressionLevel,
        onProgress: (progress) => this.#notify("zip:progress", { jobId, progress }),
      });
    } catch (error) {
      throw mapDiskFull(error, { jobId });
    }
    const next: JobRecord = { ...record, zipReady: true, zipSizeBytes: result.sizeBytes };
    const url = this.#options.downloadUrl?.(jobId);
    if (url !== undefined) next.downloadUrl = url;
    try {
      record = await tx.commit(next);
    } catch (error) {
      // The record still says there is no ZIP (a full disk, say): do not leave one
      // taking the space that is short, unaccounted for. The next completeJob builds it again.
      await removeFile(layout.zip);
      throw error;
    }
    const metadata = toMetadata(record, this.#now());
    this.#notify("job:completed", { jobId, job: metadata });
    return metadata;
  }

  /**
   * Marks the job failed with a message. A failed job takes no more writes.
   *
   * @throws {JobStorageError} `JOB_NOT_FOUND`, `INVALID_STATE` (complete), `JOB_EXPIRED`, `INVALID_INPUT`.
   */
  async failJob(jobId: string, errorMessage: string): Promise<JobMetadata> {
    validateJobId(jobId);
    if (typeof errorMessage !== "string") throw invalidInput("errorMessage must be a string");
    return this.#track(() =>
      this.#withJob(jobId, async (tx) => {
        this.#assertNotExpired(tx.record);
        if (tx.record.status === "complete") {
          throw new JobStorageError("INVALID_STATE", `Job "${jobId}" is complete and cannot fail`, { jobId });
        }
        const record = await tx.commit({ ...tx.record, status: "failed", errorMessage: errorMessage.slice(0, 10_000) });
        const metadata = toMetadata(record, this.#now());
        this.#notify("job:failed", { jobId, job: metadata, errorMessage: record.errorMessage ?? "" });
        return metadata;
      }),
    );
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
    return this.#track(() =>
      this.#withJob(jobId, async (tx) => {
        this.#assertNotExpired(tx.record);
        const expiresAt = new Date(this.#now().getTime() + ttlHours * HOUR_MS).toISOString();
        return toMetadata(await tx.commit({ ...tx.record, expiresAt }), this.#now());
      }),
    );
  }

  /**
   * Removes the job (and its ZIP unless `keepZip`). Resolves to `false` when
   * there was no such job.
   *
   * @throws {JobStorageError} `INVALID_JOB_ID`.
   */
  async deleteJob(jobId: string, options: DeleteJobOptions = {}): Promise<boolean> {
    validateJobId(jobId);
    const keepZip = options.keepZip === true;
    return this.#track(() =>
      this.#exclusive(jobId, async () => {
        const removed = await this.#removeJobDir(jobId);
        if (!keepZip) await removeFile(this.#layout(jobId).zip);
        if (removed) this.#notify("job:deleted", { jobId, keepZip });
        return removed;
      }),
    );
  }

  // --------------------------------------------------------------- files

  /**
   * Writes one file (replacing it if it exists). The file appears whole or not at all.
   *
   * @throws {JobStorageError} `JOB_NOT_FOUND`, `INVALID_PATH`, `INVALID_INPUT`, `FILE_TOO_LARGE`,
   * `PROJECT_TOO_LARGE`, `INVALID_STATE`, `JOB_EXPIRED`, `STORAGE_FULL`.
   */
  async writeFile(
    jobId: string,
    filePath: string,
    content: FileContent,
    options: WriteFileOptions = {},
  ): Promise<WriteFileResult> {
    const { results, errors } = await this.#writeBatch(jobId, [{ path: filePath, content, executable: options.executable }]);
    const error = errors.get(0);
    if (error) throw error; // the error itself, with its fields, not the batch's summary of it
    return { path: results[0]!.path, size: results[0]!.size ?? 0 };
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

  /** Writes a batch; the failed entries' errors come back by index beside the results. */
  async #writeBatch(
    jobId: string,
    files: FileInput[],
  ): Promise<{ results: WriteFilesEntryResult[]; errors: Map<number, JobStorageError> }> {
    validateJobId(jobId);
    const parsed = FileBatchSchema.safeParse(files);
    if (!parsed.success) throw invalidInput(`Invalid files: ${formatIssues(parsed.error)}`, parsed.error);
    return this.#track(async () => {
      const layout = this.#layout(jobId);
      const realFiles = path.join(this.#realBase, jobId, "files");
      const results: WriteFilesEntryResult[] = [];
      const errors = new Map<number, JobStorageError>();
      const staged: { index: number; write: StagedWrite }[] = [];
      const limit = pLimit(this.#options.writeConcurrency);
      const checkedParents = new Map<string, Promise<void>>();
      let jobMissing: unknown;

      await Promise.all(
        parsed.data.map((file, index) =>
          limit(async () => {
            results[index] = { path: file.path, success: false };
            let relative: string;
            try {
              relative = validateJobPath(file.path);
            } catch (error) {
              errors.set(index, error as JobStorageError);
              return;
            }
            results[index]!.path = relative;
            const data = contentToBuffer(file.content);
            if (data.byteLength > this.#options.maxFileSizeBytes) {
              errors.set(
                index,
                new JobStorageError(
                  "FILE_TOO_LARGE",
                  `File "${relative}" is ${data.byteLength} bytes, over the limit of ${this.#options.maxFileSizeBytes}`,
                  { jobId, path: relative, limit: this.#options.maxFileSizeBytes },
                ),
              );
              return;
            }
            if (jobMissing !== undefined) return;
            const tmp = tempName(layout.tmp);
            try {
              const target = await prepareTarget(layout.files, realFiles, jobId, relative, checkedParents);
              await writeFileDurable(tmp, data, {
                durable: this.#options.fsync,
                flag: "wx",
                mode: file.executable ? 0o755 : 0o644,
              });
              if (file.executable) await fs.chmod(tmp, 0o755); // the umask must not take the x bits
              staged.push({ index, write: { path: relative, size: data.byteLength, tmp, target } });
            } catch (error) {
              await removeFile(tmp).catch(() => {});
              if (isJobStorageError(error)) {
                errors.set(index, error);
              } else if (errnoCode(error) === "ENOENT" && !(await exists(layout.record))) {
                jobMissing = error;
              } else {
                const mapped = mapDiskFull(error, { jobId, path: relative });
                if (!isJobStorageError(mapped)) throw error;
                errors.set(index, mapped);
              }
            }
          }),
        ),
      );

      staged.sort((a, b) => a.index - b.index); // batch order decides which of two same-path writes wins
      if (jobMissing !== undefined) {
        await Promise.all(staged.map(({ write }) => removeFile(write.tmp)));
        throw notFound(jobId);
      }
      if (staged.length > 0) {
        const outcomes = await this.#commitWrites(
          jobId,
          staged.map(({ write }) => write),
        );
        staged.forEach(({ index, write }, i) => {
          const outcome = outcomes[i]!;
          if (outcome.ok) results[index] = { path: write.path, success: true, size: write.size };
          else errors.set(index, outcome.error);
        });
      }
      for (const [index, error] of errors) {
        results[index] = { path: results[index]!.path, success: false, error: { code: error.code, message: error.message } };
      }
      return { results, errors };
    });
  }

  /** Joins `items` to the batch about to be committed for this job, or starts one. */
  #commitWrites(jobId: string, items: StagedWrite[]): Promise<WriteOutcome[]> {
    let batch = this.#pendingWrites.get(jobId);
    if (!batch) {
      const fresh: PendingWrites = { items: [], done: Promise.resolve([]) };
      fresh.done = this.#withJob(
        jobId,
        (tx) => this.#applyWrites(tx, fresh.items),
        () => {
          if (this.#pendingWrites.get(jobId) === fresh) this.#pendingWrites.delete(jobId);
        },
      ).catch(async (error: unknown) => {
        await Promise.all(fresh.items.map((item) => removeFile(item.tmp)));
        throw error;
      });
      this.#pendingWrites.set(jobId, fresh);
      batch = fresh;
    }
    const start = batch.items.length;
    batch.items.push(...items);
    return batch.done.then((outcomes) => outcomes.slice(start, start + items.length));
  }

  /** Inside the lock: accounts for every staged write in order, then moves the accepted ones into place. */
  async #applyWrites(tx: JobTransaction, items: StagedWrite[]): Promise<WriteOutcome[]> {
    const { record } = tx;
    const jobId = record.jobId;
    this.#assertWritable(record);
    // Current size of every target: undefined = no regular file there.
    const sizes = new Map<string, number | undefined>();
    const blocked = new Set<string>();
    await Promise.all(
      [...new Set(items.map((item) => item.target))].map(async (target) => {
        try {
          const stat = await fs.lstat(target);
          if (stat.isDirectory()) blocked.add(target);
          sizes.set(target, stat.isFile() ? stat.size : undefined);
        } catch (error) {
          if (errnoCode(error) !== "ENOENT") throw error;
          sizes.set(target, undefined);
        }
      }),
    );
    let filesCount = record.filesCount;
    let totalSizeBytes = record.totalSizeBytes;
    const accepted: StagedWrite[] = [];
    const outcomes: WriteOutcome[] = items.map((item) => {
      if (blocked.has(item.target)) {
        return {
          ok: false,
          error: new JobStorageError("INVALID_PATH", `"${item.path}" is a directory`, { jobId, path: item.path }),
        };
      }
      const previous = sizes.get(item.target);
      const nextTotal = totalSizeBytes - (previous ?? 0) + item.size;
      if (nextTotal > this.#options.maxProjectSizeBytes) {
        return {
          ok: false,
          error: new JobStorageError(
            "PROJECT_TOO_LARGE",
            `Writing "${item.path}" would bring the project to ${nextTotal} bytes, over the limit of ${this.#options.maxProjectSizeBytes}`,
            { jobId, path: item.path, limit: this.#options.maxProjectSizeBytes },
          ),
        };
      }
      totalSizeBytes = nextTotal;
      if (previous === undefined) filesCount += 1;
      sizes.set(item.target, item.size);
      accepted.push(item);
      return { ok: true };
    });
    const rejected = items.filter((item) => !accepted.includes(item));
    await Promise.all(rejected.map((item) => removeFile(item.tmp)));
    if (accepted.length === 0) return outcomes;
    try {
      await tx.commit({ ...record, filesCount, totalSizeBytes }, async () => {
        // Distinct targets move in parallel; writes to one target keep batch order.
        const byTarget = new Map<string, StagedWrite[]>();
        for (const item of accepted) byTarget.set(item.target, [...(byTarget.get(item.target) ?? []), item]);
        await Promise.all(
          [...byTarget.values()].map(async (group) => {
            for (const item of group) await fs.rename(item.tmp, item.target);
          }),
        );
      });
    } catch (error) {
      if (!isJobStorageError(error, "STORAGE_FULL")) throw error;
      // The disk filled up during the commit: either nothing moved (the record could not be
      // staged) or a move failed and the record was rebuilt from the disk. Either way the
      // record matches the disk; each write that did not land fails on its own, like a
      // write whose content could not be staged.
      await Promise.all(
        items.map(async (item, index) => {
          if (!outcomes[index]!.ok || !(await exists(item.tmp))) return; // refused before, or landed
          await removeFile(item.tmp);
          outcomes[index] = {
            ok: false,
            error: new JobStorageError("STORAGE_FULL", error.message, { jobId, path: item.path, cause: error.cause }),
          };
        }),
      );
    }
    return outcomes;
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
    const layout = this.#layout(jobId);
    const target = await resolveExisting(layout.files, path.join(this.#realBase, jobId, "files"), relative);
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
      if (!(await exists(layout.record))) throw notFound(jobId);
      throw new JobStorageError("FILE_NOT_FOUND", `File "${relative}" not found in job "${jobId}"`, {
        jobId,
        path: relative,
        cause: error,
      });
    }
  }

  /**
   * Deletes a generated file (a write: refused on a complete, failed or expired job).
   * Resolves to `true` if a file was removed.
   *
   * @throws {JobStorageError} `JOB_NOT_FOUND`, `INVALID_PATH`, `INVALID_STATE`, `JOB_EXPIRED`.
   */
  async deleteFile(jobId: string, filePath: string): Promise<boolean> {
    validateJobId(jobId);
    const relative = validateJobPath(filePath);
    return this.#track(() =>
      this.#withJob(jobId, async (tx) => {
        this.#assertWritable(tx.record);
        const target = await resolveExisting(tx.layout.files, path.join(this.#realBase, jobId, "files"), relative);
        if (target === undefined) return false;
        let size: number;
        try {
          const stat = await fs.lstat(target);
          if (!stat.isFile()) return false;
          size = stat.size;
        } catch (error) {
          if (errnoCode(error) === "ENOENT") return false;
          throw error;
        }
        const { record } = tx;
        await tx.commit(
          { ...record, filesCount: record.filesCount - 1, totalSizeBytes: record.totalSizeBytes - size },
          () => fs.unlink(target),
        );
        return true;
      }),
    );
  }

  /**
   * The generated files, sorted by path. Never lists internal state, temporary
   * files or symbolic links.
   *
   * @throws {JobStorageError} `JOB_NOT_FOUND`.
   */
  async listFiles(jobId: string): Promise<FileInfo[]> {
    validateJobId(jobId);
    const layout = this.#layout(jobId);
    if (!(await exists(layout.record))) throw notFound(jobId);
    const files = await walkFiles(layout.files);
    return files.map((file) => ({
      path: file.path,
      name: path.posix.basename(file.path),
      size: file.size,
      modified: file.mtime,
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
      throw new JobStorageError("FILE_TOO_LARGE", "The plan is over the file size limit", {
        jobId,
        limit: this.#options.maxFileSizeBytes,
      });
    }
    await this.#track(() =>
      this.#withJob(jobId, async (tx) => {
        this.#assertWritable(tx.record);
        const tmp = tempName(tx.layout.tmp, "plan-");
        try {
          await writeFileDurable(tmp, data, { durable: this.#options.fsync, flag: "wx" });
          await tx.commit({ ...tx.record, planSizeBytes: data.byteLength }, () => fs.rename(tmp, tx.layout.plan));
        } catch (error) {
          await removeFile(tmp);
          throw mapDiskFull(error, { jobId });
        }
      }),
    );
  }

  /**
   * The plan, or `undefined` when none was written.
   *
   * @throws {JobStorageError} `JOB_NOT_FOUND`.
   */
  async readPlan(jobId: string): Promise<Plan | undefined> {
    validateJobId(jobId);
    const layout = this.#layout(jobId);
    try {
      return JSON.parse(await fs.readFile(layout.plan, "utf8")) as Plan;
    } catch (error) {
      if (errnoCode(error) !== "ENOENT") throw error;
      if (!(await exists(layout.record))) throw notFound(jobId);
      return undefined;
    }
  }

  // ----------------------------------------------------------------- zip

  /**
   * Opens the finished ZIP for a download. Waits for a build in progress.
   * The caller must consume or destroy `stream`.
   *
   * @throws {JobStorageError} `JOB_NOT_FOUND`, `ZIP_NOT_READY` (not complete), `JOB_EXPIRED`.
   */
  async openZip(jobId: string): Promise<ZipHandle> {
    validateJobId(jobId);
    const layout = this.#layout(jobId);
    for (let attempt = 0; ; attempt += 1) {
      const record = await readRecord(layout.record);
      if (!record) throw notFound(jobId);
      this.#assertNotExpired(record);
      if (record.status !== "complete") {
        throw new JobStorageError("ZIP_NOT_READY", `Job "${jobId}" is ${record.status}; its ZIP is not ready`, { jobId });
      }
      if (!record.zipReady) await this.completeJob(jobId);
      try {
        // Opened first, so a cleanup that removes the file meanwhile cannot cut the download short.
        const handle = await fs.open(layout.zip, "r");
        let size: number;
        try {
          ({ size } = await handle.stat());
        } catch (error) {
          await handle.close();
          throw error;
        }
        return { stream: handle.createReadStream(), size, fileName: zipFileName(record.projectName), path: layout.zip };
      } catch (error) {
        // The ZIP was removed by hand: build it again, once.
        if (errnoCode(error) !== "ENOENT" || attempt > 0) throw error;
        await this.completeJob(jobId);
      }
    }
  }

  /**
   * Hands the finished ZIP to `uploader` and stores the URL it returns as `s3Url`.
   * On failure `s3Url` is left as it was and the uploader's error is thrown.
   *
   * @throws {JobStorageError} as `openZip`.
   */
  async uploadZip(jobId: string, uploader: ZipUploader): Promise<JobMetadata> {
    return this.#track(async () => {
      const zip = await this.openZip(jobId);
      let url: string;
      try {
        ({ url } = await uploader.upload({
          jobId,
          fileName: zip.fileName,
          stream: zip.stream,
          size: zip.size,
          contentType: "application/zip",
        }));
      } finally {
        zip.stream.destroy();
      }
      return this.#withJob(jobId, async (tx) => toMetadata(await tx.commit({ ...tx.record, s3Url: url }), this.#now()));
    });
  }

  // ------------------------------------------------------- stats, expiry

  /** Totals over every job, from the metadata (no walk over generated files). */
  async getStats(): Promise<StorageStats> {
    const now = this.#now();
    const entries = await this.#refreshIndex();
    const jobsByStatus = Object.fromEntries(JOB_STATUSES.map((status) => [status, 0])) as Record<JobStatus, number>;
    let fileCount = 0;
    let totalSizeBytes = 0;
    for (const { record, recordSize } of entries.values()) {
      jobsByStatus[toMetadata(record, now).status] += 1;
      fileCount += record.filesCount;
      totalSizeBytes += record.totalSizeBytes + recordSize + (record.planSizeBytes ?? 0);
      if (record.zipReady) totalSizeBytes += record.zipSizeBytes ?? 0;
    }
    for (const zip of await this.#orphanZips(entries)) totalSizeBytes += zip.size;
    const fsStats = await fs.statfs(this.basePath);
    return {
      basePath: this.basePath,
      jobCount: entries.size,
      fileCount,
      totalSizeBytes,
      totalSizeMb: Math.round((totalSizeBytes / MIB) * 100) / 100,
      expiryHours: this.expiryHours,
      jobsByStatus,
      diskFreeBytes: fsStats.bavail * fsStats.bsize,
    };
  }

  /**
   * Deletes every job past its `expiresAt`, and leftovers: jobs whose
   * deletion was interrupted, temporary files and job directories without
   * metadata over an hour old, and ZIPs kept by `deleteJob(id, { keepZip })`
   * once older than `expiryHours`. Never runs twice at once in one process.
   */
  async cleanupExpired(options: CleanupOptions = {}): Promise<CleanupResult> {
    if (this.#cleanup && !options.dryRun) return this.#cleanup;
    const run = this.#track(() => this.#runCleanup(options.dryRun === true, options.signal));
    if (!options.dryRun) {
      this.#cleanup = run;
      const forget = (): void => {
        if (this.#cleanup === run) this.#cleanup = undefined;
      };
      run.then(forget, forget);
    }
    return run;
  }

  async #runCleanup(dryRun: boolean, signal: AbortSignal | undefined): Promise<CleanupResult> {
    const now = this.#now();
    const entries = await this.#refreshIndex();
    const cleanedJobs: string[] = [];
    let freedBytes = 0;
    const limit = pLimit(4);
    await Promise.all(
      [...entries.values()]
        .filter(({ record }) => isExpired(record, now))
        .map(({ record, recordSize }) =>
          limit(async () => {
            signal?.throwIfAborted();
            const zipBytes = (await this.#sizeOf(this.#layout(record.jobId).zip)) ?? 0;
            const bytes = record.totalSizeBytes + recordSize + (record.planSizeBytes ?? 0) + zipBytes;
            if (!dryRun) {
              const removed = await this.#exclusive(record.jobId, async () => {
                // Another process may have extended or removed it meanwhile.
                const fresh = await readRecord(this.#layout(record.jobId).record);
                if (!fresh || !isExpired(fresh, this.#now())) return false;
                await this.#removeJobDir(record.jobId);
                await removeFile(this.#layout(record.jobId).zip);
                return true;
              });
              if (!removed) return;
              this.#notify("job:expired", { jobId: record.jobId, freedBytes: bytes });
            }
            cleanedJobs.push(record.jobId);
            freedBytes += bytes;
          }),
        ),
    );
    freedBytes += await this.#cleanupLeftovers(entries, now, dryRun, signal);
    if (!dryRun && cleanedJobs.length > 0) this.#logger.info({ cleanedJobs: cleanedJobs.length, freedBytes }, "expired jobs cleaned up");
    return { cleanedJobs: cleanedJobs.sort(), freedBytes };
  }

  async #cleanupLeftovers(
    entries: Map<string, IndexEntry>,
    now: Date,
    dryRun: boolean,
    signal: AbortSignal | undefined,
  ): Promise<number> {
    const oldEnough = (mtime: Date, ageMs: number): boolean => now.getTime() - mtime.getTime() >= ageMs;
    const victims: string[] = [];
    const baseTmp = path.join(this.basePath, BASE_TMP_DIR);
    for (const name of await this.#readdirNames(baseTmp)) {
      const full = path.join(baseTmp, name);
      if (name.startsWith(TRASH_PREFIX)) victims.push(full); // a deletion that was interrupted
      else if (oldEnough(await this.#mtimeOf(full), LEFTOVER_AGE_MS)) victims.push(full);
    }
    // Only what this library makes is touched: a base path pointed at a
    // directory with other content loses none of it.
    const baseEntries = await fs.readdir(this.basePath, { withFileTypes: true });
    for (const entry of baseEntries) {
      const full = path.join(this.basePath, entry.name);
      if (entry.isFile() && ZIP_TEMP_NAME.test(entry.name)) {
        if (oldEnough(await this.#mtimeOf(full), LEFTOVER_AGE_MS)) victims.push(full);
      } else if (entry.isDirectory() && isValidJobId(entry.name) && !entries.has(entry.name)) {
        // A job directory without metadata: only if everything in it is ours.
        const names = await this.#readdirNames(full);
        const ours = names.length > 0 && names.every((name) => JOB_DIR_ENTRIES.has(name));
        if (ours && oldEnough(await this.#mtimeOf(full), LEFTOVER_AGE_MS)) victims.push(full);
      }
    }
    for (const zip of await this.#orphanZips(entries)) {
      if (oldEnough(zip.mtime, this.expiryHours * HOUR_MS)) victims.push(zip.path);
    }
    for (const jobId of entries.keys()) {
      const tmpDir = this.#layout(jobId).tmp;
      for (const name of await this.#readdirNames(tmpDir)) {
        const full = path.join(tmpDir, name);
        if (oldEnough(await this.#mtimeOf(full), LEFTOVER_AGE_MS)) victims.push(full);
      }
    }
    let freed = 0;
    for (const victim of victims) {
      signal?.throwIfAborted();
      freed += await this.#treeSize(victim);
      if (!dryRun) await fs.rm(victim, { recursive: true, force: true });
    }
    return freed;
  }

  // ------------------------------------------------------------ lifecycle

  /** Stops the scheduler and waits for every operation in flight. Idempotent. */
  async close(): Promise<void> {
    this.#closing ??= (async () => {
      await this.#scheduler.stop();
      while (this.#inFlight.size > 0) await Promise.allSettled([...this.#inFlight]);
    })();
    return this.#closing;
  }

  /** The same as {@link JobStorageManager.close}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  // ------------------------------------------------------------ internals

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

  #layout(jobId: string): JobLayout {
    return jobLayout(this.basePath, jobId);
  }

  #assertNotExpired(record: JobRecord): void {
    if (isExpired(record, this.#now())) {
      throw new JobStorageError("JOB_EXPIRED", `Job "${record.jobId}" expired at ${record.expiresAt}`, {
        jobId: record.jobId,
      });
    }
  }

  #assertWritable(record: JobRecord): void {
    this.#assertNotExpired(record);
    if (record.status !== "generating") {
      throw new JobStorageError("INVALID_STATE", `Job "${record.jobId}" is ${record.status} and takes no more writes`, {
        jobId: record.jobId,
      });
    }
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

  /** Runs `fn` after every earlier exclusive section of this job in this process. */
  #exclusive<T>(jobId: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.#queues.get(jobId) ?? Promise.resolve();
    const run = previous.then(fn);
    const tail = run.then(
      () => {},
      () => {},
    );
    this.#queues.set(jobId, tail);
    void tail.then(() => {
      if (this.#queues.get(jobId) === tail) this.#queues.delete(jobId);
    });
    return run;
  }

  /**
   * Runs `fn` holding the job's in-process turn and its inter-process lock,
   * with the record read fresh from disk (and rebuilt first if a writer died
   * mid-change). `onTurn` runs as soon as the turn starts.
   */
  #withJob<T>(jobId: string, fn: (tx: JobTransaction) => Promise<T>, onTurn?: () => void): Promise<T> {
    return this.#exclusive(jobId, async () => {
      onTurn?.();
      const layout = this.#layout(jobId);
      let release: () => Promise<void>;
      try {
        release = await acquireLock(layout.lock, { staleMs: this.#lockStaleMs, logger: this.#logger });
      } catch (error) {
        if (errnoCode(error) === "ENOENT") throw notFound(jobId);
        throw mapDiskFull(error, { jobId }); // the lock is a directory: making it can hit a full disk
      }
      try {
        let record = await readRecord(layout.record);
        if (!record) throw notFound(jobId);
        if (await exists(layout.nextRecord)) {
          record = await this.#recover(layout, record).catch((error: unknown) => {
            throw mapDiskFull(error, { jobId });
          });
        }
        let current = record;
        const tx: JobTransaction = {
          layout,
          get record() {
            return current;
          },
          commit: async (next, apply) => {
            current = await this.#commitRecord(layout, next, apply);
            return current;
          },
        };
        return await fn(tx);
      } finally {
        await release().catch((error: unknown) => {
          if (errnoCode(error) !== "ENOENT") this.#logger.warn({ err: error, jobId }, "job lock release failed");
        });
      }
    });
  }

  /** Stages `next`, applies the change, then makes `next` the record (see the file header). */
  async #commitRecord(layout: JobLayout, next: JobRecord, apply?: () => Promise<void>): Promise<JobRecord> {
    try {
      await writeFileDurable(layout.nextRecord, serializeRecord(next), { durable: this.#options.fsync });
    } catch (error) {
      // Nothing has changed yet: drop the partial staging file and report.
      await removeFile(layout.nextRecord);
      throw mapDiskFull(error, { jobId: next.jobId });
    }
    if (apply) {
      try {
        await apply();
      } catch (error) {
        // Part of the change may be on disk: make the record match the disk again.
        const current = (await readRecord(layout.record)) ?? next;
        await this.#recover(layout, current).catch((recoveryError: unknown) => {
          this.#logger.error({ err: recoveryError, jobId: next.jobId }, "recovery after a failed change failed");
        });
        throw mapDiskFull(error, { jobId: next.jobId });
      }
    }
    await fs.rename(layout.nextRecord, layout.record);
    this.#remember(next);
    return next;
  }

  /** Rebuilds the counts of a job from its files (a writer died mid-change). */
  async #recover(layout: JobLayout, record: JobRecord): Promise<JobRecord> {
    const measured = await measureFiles(layout.files);
    const plan = await this.#sizeOf(layout.plan);
    const next: JobRecord = { ...record, ...measured };
    if (plan === undefined) delete next.planSizeBytes;
    else next.planSizeBytes = plan;
    await writeFileDurable(layout.nextRecord, serializeRecord(next), { durable: this.#options.fsync });
    await fs.rename(layout.nextRecord, layout.record);
    this.#logger.warn({ jobId: record.jobId, ...measured }, "recovered a job left mid-change by a stopped process");
    this.#remember(next);
    return next;
  }

  #remember(record: JobRecord): void {
    const entry = this.#index.get(record.jobId);
    if (entry) entry.record = record;
  }

  /** Finds every job left mid-change by a stopped process and rebuilds it. */
  async #recoverAll(): Promise<void> {
    const entries = await this.#refreshIndex();
    const limit = pLimit(16);
    await Promise.all(
      [...entries.keys()].map((jobId) =>
        limit(async () => {
          if (!(await exists(this.#layout(jobId).nextRecord))) return;
          // #withJob rebuilds the record once it holds the lock (a live writer finishes first).
          await this.#withJob(jobId, async () => undefined).catch((error: unknown) => {
            if (!isJobStorageError(error, "JOB_NOT_FOUND")) throw error;
          });
        }),
      ),
    );
  }

  /** Moves a job directory out of sight, then removes it. `false` when there was no job. */
  async #removeJobDir(jobId: string): Promise<boolean> {
    const layout = this.#layout(jobId);
    let release: (() => Promise<void>) | undefined;
    try {
      release = await acquireLock(layout.lock, { staleMs: this.#lockStaleMs, logger: this.#logger });
    } catch (error) {
      if (errnoCode(error) === "ENOENT") return false;
      if (!isDiskFullError(error)) throw error;
      // On a full disk the lock directory cannot be made, yet removing jobs is how space
      // comes back (cleanupExpired included). The rename below is atomic, so go ahead:
      // a writer in another process then finds the job gone.
      this.#logger.warn({ err: error, jobId }, "disk full: removing the job without its lock");
    }
    const trash = path.join(this.basePath, BASE_TMP_DIR, `${TRASH_PREFIX}${jobId}-${randomUUID()}`);
    try {
      if (!(await exists(layout.record))) return false;
      await fs.rename(layout.dir, trash);
    } finally {
      await release?.().catch((error: unknown) => {
        if (errnoCode(error) !== "ENOENT") this.#logger.warn({ err: error, jobId }, "job lock release failed");
      });
    }
    this.#index.delete(jobId);
    await fs.rm(trash, { recursive: true, force: true });
    return true;
  }

  /** Brings the in-memory index up to date with the disk; unchanged records are not re-read. */
  async #refreshIndex(): Promise<Map<string, IndexEntry>> {
    const entries = await fs.readdir(this.basePath, { withFileTypes: true });
    const present = new Set<string>();
    const limit = pLimit(64);
    await Promise.all(
      entries
        .filter((entry) => entry.isDirectory() && isValidJobId(entry.name))
        .map((entry) =>
          limit(async () => {
            const file = this.#layout(entry.name).record;
            let stat;
            try {
              stat = await fs.stat(file);
            } catch (error) {
              if (errnoCode(error) === "ENOENT" || errnoCode(error) === "ENOTDIR") return;
              throw error;
            }
            present.add(entry.name);
            const known = this.#index.get(entry.name);
            if (known && known.mtimeMs === stat.mtimeMs && known.ino === stat.ino && known.recordSize === stat.size) return;
            const record = await readRecord(file);
            if (!record) return void present.delete(entry.name);
            this.#index.set(entry.name, { record, recordSize: stat.size, mtimeMs: stat.mtimeMs, ino: stat.ino });
          }),
        ),
    );
    for (const jobId of this.#index.keys()) if (!present.has(jobId)) this.#index.delete(jobId);
    return this.#index;
  }

  /** ZIPs whose job is gone (kept by `deleteJob(id, { keepZip: true })`). */
  async #orphanZips(entries: Map<string, IndexEntry>): Promise<{ path: string; size: number; mtime: Date }[]> {
    const orphans: { path: string; size: number; mtime: Date }[] = [];
    for (const name of await this.#readdirNames(this.basePath)) {
      if (!name.endsWith(ZIP_SUFFIX)) continue;
      const jobId = name.slice(0, -ZIP_SUFFIX.length);
      if (!isValidJobId(jobId) || entries.has(jobId)) continue;
      const full = path.join(this.basePath, name);
      try {
        const stat = await fs.lstat(full);
        if (stat.isFile()) orphans.push({ path: full, size: stat.size, mtime: stat.mtime });
      } catch (error) {
        if (errnoCode(error) !== "ENOENT") throw error;
      }
    }
    return orphans;
  }

  async #readdirNames(dir: string): Promise<string[]> {
    try {
      return await fs.readdir(dir);
    } catch (error) {
      if (errnoCode(error) === "ENOENT" || errnoCode(error) === "ENOTDIR") return [];
      throw error;
    }
  }

  async #sizeOf(file: string): Promise<number | undefined> {
    try {
      return (await fs.lstat(file)).size;
    } catch (error) {
      if (errnoCode(error) === "ENOENT") return undefined;
      throw error;
    }
  }

  async #mtimeOf(file: string): Promise<Date> {
    try {
      return (await fs.lstat(file)).mtime;
    } catch (error) {
      if (errnoCode(error) === "ENOENT") return this.#now(); // gone already: not a leftover
      throw error;
    }
  }

  /** Bytes below `target` (a file or a directory), links not followed. */
  async #treeSize(target: string): Promise<number> {
    let stat;
    try {
      stat = await fs.lstat(target);
    } catch (error) {
      if (errnoCode(error) === "ENOENT") return 0;
      throw error;
    }
    if (!stat.isDirectory()) return stat.size;
    const names = await this.#readdirNames(target);
    let total = 0;
    for (const name of names) total += await this.#treeSize(path.join(target, name));
    return total;
  }
}
