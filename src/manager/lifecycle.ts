/**
 * A job's life: creating it, and every change of its record (complete,
 * fail, extend, the stored S3 URL). Each change is one index transaction
 * that also records an intent, then the job's `job.json` is rewritten, then
 * the intent is dropped: the status record on disk follows the index, so a
 * rebuild from the directories finds every job as it was.
 */
import { randomUUID } from "node:crypto";
import fsSync from "node:fs";
import path from "node:path";
import fse from "fs-extra";
import { JobStorageError, errnoCode, isJobStorageError } from "../errors.js";
import { requireJob, transact, type StorageContext } from "./context.js";
import { mapDiskFull, writeFileDurable } from "./fs-utils.js";
import type { IndexedJob } from "./index-db.js";
import { BASE_TMP_DIR, NEW_JOB_PREFIX, jobLayout } from "./layout.js";
import { serializeStatusRecord, type JobRecord } from "./record.js";
import { writeStatusFile } from "./status-file.js";

/**
 * Creates a job. Its row is claimed first (so two processes cannot both
 * create one id), then its directory is built in `.tmp/` and renamed into
 * place whole, so a job directory never exists without its status record.
 */
export async function createJobRecord(context: StorageContext, record: Omit<JobRecord, "recordSizeBytes">): Promise<IndexedJob> {
  const { index, owners } = context;
  const { jobId } = record;
  const text = serializeStatusRecord(record);
  const full: JobRecord = { ...record, recordSizeBytes: Buffer.byteLength(text) };
  const exists = (): JobStorageError => new JobStorageError("JOB_EXISTS", `Job "${jobId}" already exists`, { jobId });
  const intent = transact(
    context,
    () => {
      if (index.hasJob(jobId)) throw exists();
      index.insertJob(full);
      return index.addIntent({ owner: owners.id, jobId, kind: "create", path: undefined, fromPath: undefined, tmp: undefined });
    },
    { jobId },
  );
  const staging = path.join(context.basePath, BASE_TMP_DIR, `${NEW_JOB_PREFIX}${randomUUID()}`);
  const staged = jobLayout(path.dirname(staging), path.basename(staging));
  try {
    // One directory at a time below .tmp/ (re-made if someone removed it): a recursive
    // mkdir reports ENOENT, not ENOSPC, when it runs out of inodes.
    // Synchronous metadata operations: each costs less than a trip through the thread pool.
    fsSync.mkdirSync(path.dirname(staging), { recursive: true });
    fsSync.mkdirSync(staging);
    fsSync.mkdirSync(staged.files);
    fsSync.mkdirSync(staged.tmp);
    await writeFileDurable(staged.record, text, { durable: context.options.fsync });
    fsSync.renameSync(staging, context.layout(jobId).dir);
  } catch (error) {
    await fse.remove(staging);
    transact(context, () => index.deleteJob(jobId));
    const code = errnoCode(error);
    if (code === "ENOTEMPTY" || code === "EEXIST" || code === "ENOTDIR" || code === "EISDIR") throw exists();
    throw mapDiskFull(error, { jobId });
  }
  const at = context.now().toISOString();
  try {
    transact(context, () => {
      index.removeIntent(intent);
      index.addChange({ jobId, type: "job:status", status: record.status, at });
    });
  } catch (error) {
    // The job is whole on disk; the intent is settled (kept) by the next open().
    context.logger.warn({ err: error, jobId }, "could not record the creation of a job");
  }
  return { ...full, zipBuilder: undefined };
}

/** Serializes this process's record changes of one job, so `job.json` is written in order. */
const chains = new WeakMap<StorageContext, Map<string, Promise<unknown>>>();

function inOrder<T>(context: StorageContext, jobId: string, fn: () => Promise<T>): Promise<T> {
  let perJob = chains.get(context);
  if (!perJob) chains.set(context, (perJob = new Map<string, Promise<unknown>>()));
  const run = (perJob.get(jobId) ?? Promise.resolve()).then(fn, fn);
  const tail = run.then(
    () => {},
    () => {},
  );
  perJob.set(jobId, tail);
  void tail.then(() => {
    if (perJob.get(jobId) === tail) perJob.delete(jobId);
  });
  return run;
}

/** What a record change does: `next` to store, or `undefined` to change nothing. */
export type RecordChange = (current: IndexedJob) => IndexedJob | undefined;

/**
 * Applies `change` to the job's record in one transaction, rewrites
 * `job.json`, and adds a `job:status` change to the feed when the status
 * moved (unless `quiet`: a ZIP build reports "complete" once the ZIP is ready). A `job.json` that cannot be written (a full disk) puts the record
 * back and throws `STORAGE_FULL`.
 */
export function changeRecord(
  context: StorageContext,
  jobId: string,
  change: RecordChange,
  options: { quiet?: boolean } = {},
): Promise<IndexedJob> {
  return inOrder(context, jobId, async () => {
    const { index, owners } = context;
    let previous: IndexedJob | undefined;
    let intent: number | undefined;
    const next = transact(
      context,
      () => {
        previous = requireJob(context, jobId);
        const updated = change(previous);
        if (updated === undefined) return previous;
        index.updateJob(updated);
        intent = index.addIntent({ owner: owners.id, jobId, kind: "status", path: undefined, fromPath: undefined, tmp: undefined });
        return updated;
      },
      { jobId },
    );
    if (intent === undefined) return next;
    let size: number;
    try {
      size = await writeStatusFile(context, next);
    } catch (error) {
      const mapped = mapDiskFull(error, { jobId });
      transact(context, () => {
        const current = index.getJob(jobId);
        if (current && previous) index.updateJob({ ...previous, filesCount: current.filesCount, totalSizeBytes: current.totalSizeBytes });
        index.removeIntent(intent!);
      });
      if (errnoCode(error) === "ENOENT" && !index.hasJob(jobId)) throw new JobStorageError("JOB_NOT_FOUND", `Job "${jobId}" not found`, { jobId });
      throw isJobStorageError(mapped) ? mapped : error;
    }
    const at = context.now().toISOString();
    return transact(context, () => {
      index.removeIntent(intent!);
      const current = index.getJob(jobId) ?? next;
      const stored: IndexedJob = { ...current, recordSizeBytes: size };
      index.updateJob(stored);
      if (previous?.status !== next.status && options.quiet !== true) index.addChange({ jobId, type: "job:status", status: next.status, at });
      return stored;
    });
  });
}
