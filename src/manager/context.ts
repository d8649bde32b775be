/**
 * What the manager's parts share: the options, the index, this process's
 * owner identity, the clock, the ZIP builder, and the bookkeeping of work in
 * flight in this process. The parts (writes, status, ZIP builds,
 * maintenance) each take one of these; none of them knows the facade.
 */
import path from "node:path";
import type { ResolvedOptions } from "../config.js";
import { JobStorageError } from "../errors.js";
import type { Logger } from "../logger.js";
import type { ZipOptions, ZipResult } from "../zip/types.js";
import type { IndexedJob, JobIndex } from "./index-db.js";
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
  };
}

// ------------------------------------------------------ errors and checks

export function notFound(jobId: string): JobStorageError {
  return new JobStorageError("JOB_NOT_FOUND", `Job "${jobId}" not found`, { jobId });
}

export function invalidInput(message: string, cause?: unknown): JobStorageError {
  return new JobStorageError("INVALID_INPUT", message, { cause });
}

/** The job's row, or `JOB_NOT_FOUND`. */
export function requireJob(context: StorageContext, jobId: string): IndexedJob {
  const record = context.index.getJob(jobId);
  if (!record) throw notFound(jobId);
  return record;
}

export function assertNotExpired(record: IndexedJob, now: Date): void {
  if (isExpired(record, now)) {
    throw new JobStorageError("JOB_EXPIRED", `Job "${record.jobId}" expired at ${record.expiresAt}`, { jobId: record.jobId });
  }
}

/** Writes go only to a `generating` job that has not expired. */
export function assertWritable(record: IndexedJob, now: Date): void {
  assertNotExpired(record, now);
  if (record.status !== "generating") {
    throw new JobStorageError("INVALID_STATE", `Job "${record.jobId}" is ${record.status} and takes no more writes`, {
      jobId: record.jobId,
    });
  }
}

/** Runs one index transaction, with SQLite's "disk full" as `STORAGE_FULL`. */
export function transact<T>(context: StorageContext, fn: () => T, details: { jobId?: string; path?: string } = {}): T {
  try {
    return context.index.transaction(fn);
  } catch (error) {
    throw mapIndexError(error, details);
  }
}
