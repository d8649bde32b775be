/**
 * What the manager's parts share: the options, the index, this process's
 * owner identity, the clock, the ZIP builder, and the bookkeeping of work in
 * flight in this process. The parts (writes, status, ZIP builds,
 * maintenance) each take one of these; none of them knows the facade.
 */
import path from "node:path";
import type { ResolvedOptions } from "../config.js";
import { JobStorageError, errnoCode } from "../errors.js";
import type { Logger } from "../logger.js";
import type { ZipOptions, ZipResult } from "../zip/types.js";
import type { IndexedJob, JobIndex, WriteState } from "./index-db.js";
import { mapIndexError } from "./index-db.js";
import { jobLayout, type JobLayout } from "./layout.js";
import type { OwnerRegistry } from "./owners.js";
import { isExpired } from "./record.js";
import type { JobStorageEvents } from "./types.js";

/** Builds a job's ZIP from its `files/` directory: `zipDirectory` unless a test passes another. */
export type ZipBuilder = (dir: string, outFile: string, options: ZipOptions) => Promise<ZipResult>;

/** Emits a manager event (after the change it reports is saved). */
export type Notify = <K extends keyof JobStorageEvents>(event: K, ...args: JobStorageEvents[K]) => void;

export interface StorageContext {
  readonly basePath: string;
  /** The real path of `files/` of a job, so symlink checks compare like with like. */
  realFiles(jobId: string): string;
  readonly options: ResolvedOptions;
  readonly index: JobIndex;
  readonly owners: OwnerRegistry;
  readonly logger: Logger;
  readonly zipBuilder: ZipBuilder;
  now(): Date;
  notify: Notify;
  layout(jobId: string): JobLayout;
  /** Changes to a job's files in flight in this process, so a ZIP build can wait for them. */
  readonly writesInFlight: Map<string, Set<Promise<unknown>>>;
  /** Outcomes of writes already on disk, waiting to be recorded (see {@link deferOutcome}). */
  readonly outcomes: { pending: (() => void)[]; timer: NodeJS.Timeout | undefined };
}

/** Tracks `work` as a change to `jobId`'s files in flight in this process. */
export function trackWrite<T>(context: StorageContext, jobId: string, work: Promise<T>): Promise<T> {
  let set = context.writesInFlight.get(jobId);
  if (!set) {
    set = new Set();
    context.writesInFlight.set(jobId, set);
  }
  set.add(work);
  const settle = (): void => {
    set.delete(work);
    if (set.size === 0 && context.writesInFlight.get(jobId) === set) context.writesInFlight.delete(jobId);
  };
  work.then(settle, settle);
  return work;
}

export function createContext(
  basePath: string,
  realBase: string,
  options: ResolvedOptions,
  parts: { index: JobIndex; owners: OwnerRegistry; logger: Logger; zipBuilder: ZipBuilder; now: () => Date; notify: Notify },
): StorageContext {
  return {
    basePath,
    realFiles: (jobId) => path.join(realBase, jobId, "files"),
    options,
    ...parts,
    layout: (jobId) => jobLayout(basePath, jobId),
    writesInFlight: new Map(),
    outcomes: { pending: [], timer: undefined },
  };
}

/** How long an outcome may wait for the next transaction to carry it. */
const OUTCOME_DELAY_MS = 2;

/**
 * Records the outcome of a write whose files are already in place: it goes
 * into the next transaction of this process (a writer agent's next write
 * carries it, so a sequential loop costs one transaction per file), or into
 * one of its own within a few milliseconds. Nothing depends on it being
 * recorded at once: the index already accounts for the file, and an intent
 * left by a process killed meanwhile is settled from the disk.
 */
export function deferOutcome(context: StorageContext, outcome: () => void): void {
  context.outcomes.pending.push(outcome);
  context.outcomes.timer ??= setTimeout(() => {
    context.outcomes.timer = undefined;
    try {
      transact(context, () => undefined);
    } catch (error) {
      // Left as intents, which the next open() or writer settles from the disk.
      context.logger.warn({ err: error }, "could not record the outcome of writes");
    }
  }, OUTCOME_DELAY_MS);
}

/** Records every deferred outcome now (before close, and before a ZIP build reports completion). */
export function flushOutcomes(context: StorageContext): void {
  if (context.outcomes.pending.length === 0) return;
  transact(context, () => undefined);
}

// ------------------------------------------------------ errors and checks

export function notFound(jobId: string): JobStorageError {
  return new JobStorageError("JOB_NOT_FOUND", `Job "${jobId}" not found`, { jobId });
}

export function invalidInput(message: string, cause?: unknown): JobStorageError {
  return new JobStorageError("INVALID_INPUT", message, { cause });
}

/**
 * A file-system error met because the job was deleted meanwhile (by this
 * process or another) becomes `JOB_NOT_FOUND`; any other error stays as it is.
 */
export function unlessJobGone(context: StorageContext, jobId: string, error: unknown): unknown {
  const code = errnoCode(error);
  if ((code === "ENOENT" || code === "ENOTDIR") && !context.index.hasJob(jobId)) {
    return new JobStorageError("JOB_NOT_FOUND", `Job "${jobId}" was deleted meanwhile`, { jobId, cause: error });
  }
  return error;
}

/** What a write checks and counts against (see {@link JobIndex.getWriteState}), or `JOB_NOT_FOUND`. */
export function requireWriteState(context: StorageContext, jobId: string): WriteState {
  const state = context.index.getWriteState(jobId);
  if (!state) throw notFound(jobId);
  return state;
}

/** The job's row, or `JOB_NOT_FOUND`. */
export function requireJob(context: StorageContext, jobId: string): IndexedJob {
  const record = context.index.getJob(jobId);
  if (!record) throw notFound(jobId);
  return record;
}

export function assertNotExpired(record: Pick<IndexedJob, "jobId" | "expiresAt">, now: Date): void {
  if (isExpired(record, now)) {
    throw new JobStorageError("JOB_EXPIRED", `Job "${record.jobId}" expired at ${record.expiresAt}`, { jobId: record.jobId });
  }
}

/** Writes go only to a `generating` job that has not expired. */
export function assertWritable(record: Pick<IndexedJob, "jobId" | "status" | "expiresAt">, now: Date): void {
  assertNotExpired(record, now);
  if (record.status !== "generating") {
    throw new JobStorageError("INVALID_STATE", `Job "${record.jobId}" is ${record.status} and takes no more writes`, {
      jobId: record.jobId,
    });
  }
}

/** Runs one index transaction, with SQLite's "disk full" as `STORAGE_FULL`. */
export function transact<T>(context: StorageContext, fn: () => T, details: { jobId?: string; path?: string } = {}): T {
  const { outcomes } = context;
  const carried = outcomes.pending;
  try {
    const result = context.index.transaction(() => {
      // Deferred outcomes first, so the change feed keeps the order things happened in.
      for (const outcome of carried) outcome();
      return fn();
    });
    if (carried.length > 0 && outcomes.pending === carried) {
      outcomes.pending = [];
      if (outcomes.timer) clearTimeout(outcomes.timer);
      outcomes.timer = undefined;
    }
    return result;
  } catch (error) {
    throw mapIndexError(error, details);
  }
}
