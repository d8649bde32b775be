/**
 * Keeping the index true to the disk, and taking things away:
 *
 * - settling the intents a dead process left (the disk decides: a file that
 *   is there is indexed as it is, one that is not is dropped);
 * - reconciling at `open()`: adopting job directories the index lacks (a
 *   deleted or corrupted database is rebuilt this way), dropping rows whose
 *   directory is gone, freeing a dead process's ZIP builds;
 * - removing a job, expired jobs and leftovers (`cleanupExpired`).
 */
import { randomUUID } from "node:crypto";
import fsSync from "node:fs";
import fs from "node:fs/promises";
import path from "node:path";
import fse from "fs-extra";
import pLimit from "p-limit";
import { errnoCode, isJobStorageError } from "../errors.js";
import { isValidJobId } from "../paths/validate.js";
import { zipTempTarget } from "../zip/temp-name.js";
import { transact, type StorageContext } from "./context.js";
import { removeFile } from "./fs-utils.js";
import type { FileRow, Intent } from "./index-db.js";
import { readFileOnDisk, resolveExisting, walkFiles } from "./job-files.js";
import { BASE_TMP_DIR, JOB_DIR_ENTRIES, OWNERS_DIR, INDEX_DIR, TRASH_PREFIX, ZIP_SUFFIX } from "./layout.js";
import { isExpired, readStatusRecord } from "./record.js";
import { writeStatusFile } from "./status-file.js";
import type { CleanupResult } from "./types.js";

const HOUR_MS = 3_600_000;
/** Files hashed (and temporaries removed) at once while settling. */
const SETTLE_CONCURRENCY = 8;
/** Temporary files and directories without metadata are leftovers once this old. */
const LEFTOVER_AGE_MS = HOUR_MS;
/** An owner lock's name: the owner's random UUID. */
const OWNER_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

// ------------------------------------------------------------ settling

/**
 * Settles the intents that dead processes left on `jobId` (or on every job).
 * The common case, no foreign intent at all, is one indexed query.
 */
export async function settleForeignIntents(context: StorageContext, jobId?: string): Promise<void> {
  const dead = context.index.foreignIntents(context.owners.id, jobId).filter((intent) => !context.owners.isAlive(intent.owner));
  if (dead.length === 0) return;
  // A writer killed mid-batch leaves an intent per file: each job's file changes are settled
  // together (the paths hashed at once, one transaction, one recount), the rest one by one.
  const limit = pLimit(SETTLE_CONCURRENCY);
  const temporaries = dead.map((intent) => intent.tmp).filter((tmp): tmp is string => tmp !== undefined);
  await Promise.all(temporaries.map((tmp) => limit(() => removeFile(tmp).catch(() => {}))));
  const fileChanges = new Map<string, Intent[]>();
  for (const intent of dead) {
    if (isFileChange(intent)) {
      fileChanges.set(intent.jobId, [...(fileChanges.get(intent.jobId) ?? []), intent]);
    } else {
      await settleIntent(context, intent);
      context.logger.warn({ jobId: intent.jobId, kind: intent.kind }, "settled a change left unfinished by a stopped process");
    }
  }
  for (const [job, intents] of fileChanges) {
    const paths = new Set(intents.flatMap((intent) => [intent.path, intent.fromPath].filter((p): p is string => p !== undefined)));
    await settlePaths(context, job, [...paths], intents.map((intent) => intent.id));
    context.logger.warn(
      { jobId: job, changes: intents.length, paths: [...paths].slice(0, 10) },
      "settled file changes left unfinished by a stopped process",
    );
  }
}

/** A change to a job's files (settled by {@link settlePaths}), not to its plan or record. */
function isFileChange(intent: Intent): boolean {
  return intent.kind === "file" || intent.kind === "delete" || intent.kind === "move";
}

/** Brings the index in line with the disk for the plan, status or job change `intent` was making, then drops it. */
async function settleIntent(context: StorageContext, intent: Intent): Promise<void> {
  const { jobId } = intent;
  const layout = context.layout(jobId);
  switch (intent.kind) {
    case "file":
    case "delete":
    case "move":
      return; // see isFileChange
    case "plan": {
      const size = await sizeOf(layout.plan);
      transact(context, () => {
        context.index.setPlanSize(jobId, size);
        context.index.removeIntent(intent.id);
      });
      break;
    }
    case "status": {
      const record = context.index.getJob(jobId);
      if (record && fsSync.existsSync(layout.dir)) await writeStatusFile(context, record);
      transact(context, () => context.index.removeIntent(intent.id));
      break;
    }
    case "create":
    case "remove-job": {
      // Created if its status record made it into place; removed if its directory is gone.
      const present = intent.kind === "create" ? (await readStatusRecord(layout.record)) !== undefined : fsSync.existsSync(layout.dir);
      transact(context, () => {
        if (present) context.index.removeIntent(intent.id);
        else context.index.deleteJob(jobId);
      });
      break;
    }
  }
}

/** Sets the index rows of `paths` to what the disk holds, recounts the job, and drops the intents `intentIds`. */
export async function settlePaths(context: StorageContext, jobId: string, paths: string[], intentIds: number[] = []): Promise<void> {
  const layout = context.layout(jobId);
  const limit = pLimit(SETTLE_CONCURRENCY);
  const found = await Promise.all(
    paths.map((relative) =>
      limit(async () => {
        const target = await resolveExisting(layout.files, context.realFiles(jobId), relative);
        const disk = target === undefined ? undefined : await readFileOnDisk(target);
        return { relative, disk };
      }),
    ),
  );
  transact(context, () => {
    if (!context.index.hasJob(jobId)) return;
    for (const { relative, disk } of found) {
      if (disk) context.index.upsertFile(jobId, { path: relative, ...disk });
      else context.index.deleteFile(jobId, relative);
    }
    context.index.recount(jobId);
    for (const id of intentIds) context.index.removeIntent(id);
  });
}

// ---------------------------------------------------------- reconciling

/**
 * At `open()`: frees what dead processes held, then makes the index and the
 * job directories agree. Returns how many job directories were adopted.
 */
export async function reconcile(context: StorageContext): Promise<number> {
  const { index, owners } = context;
  const dead = index.referencedOwners().filter((owner) => !owners.isAlive(owner));
  await settleForeignIntents(context);
  if (dead.length > 0) transact(context, () => dead.forEach((owner) => index.releaseZipBuilds(owner)));
  // Lock files of processes that died without closing.
  for (const name of await readdirNames(path.join(context.basePath, INDEX_DIR, OWNERS_DIR))) {
    if (OWNER_ID.test(name) && !owners.isAlive(name)) owners.forget(name);
  }

  // Rows first, then directories: a job being created gets its row before its directory.
  const rows = index.jobIds();
  const dirs = new Set<string>();
  for (const entry of await fs.readdir(context.basePath, { withFileTypes: true })) {
    if (entry.isDirectory() && isValidJobId(entry.name)) dirs.add(entry.name);
  }
  let adopted = 0;
  const limit = pLimit(8);
  await Promise.all(
    [...dirs].filter((jobId) => !rows.has(jobId)).map((jobId) =>
      limit(async () => {
        if (await adoptJob(context, jobId)) adopted += 1;
      }),
    ),
  );
  for (const jobId of rows) {
    if (dirs.has(jobId)) continue;
    transact(context, () => {
      // A job without a directory and without a change in flight: removed behind our back.
      if (index.foreignIntents(owners.id, jobId).length > 0 || fsSync.existsSync(context.layout(jobId).dir)) return;
      index.deleteJob(jobId);
    });
  }
  return adopted;
}

/** Indexes a job directory from its status record and files; `false` when it has no valid record. */
async function adoptJob(context: StorageContext, jobId: string): Promise<boolean> {
  const layout = context.layout(jobId);
  const status = await readStatusRecord(layout.record);
  if (!status || status.jobId !== jobId) return false;
  const walked = await walkFiles(layout.files);
  const files: FileRow[] = [];
  for (const file of walked) {
    const disk = await readFileOnDisk(path.join(layout.files, file.path));
    if (disk) files.push({ path: file.path, ...disk });
  }
  const zipSize = status.zipReady ? await sizeOf(layout.zip) : undefined;
  const recordSize = (await sizeOf(layout.record)) ?? 0;
  const planSize = await sizeOf(layout.plan);
  transact(context, () => {
    if (context.index.hasJob(jobId)) return;
    context.index.insertJob({
      ...status,
      zipReady: status.zipReady && zipSize !== undefined,
      ...(zipSize === undefined ? { zipSizeBytes: undefined } : { zipSizeBytes: zipSize }),
      filesCount: files.length,
      totalSizeBytes: files.reduce((sum, file) => sum + file.size, 0),
      recordSizeBytes: recordSize,
      ...(planSize === undefined ? {} : { planSizeBytes: planSize }),
    });
    context.index.replaceFiles(jobId, files);
    // The feed starts again from the job's status, so a watcher of a finished job ends.
    const terminal = status.status === "failed" || (status.status === "complete" && status.zipReady && zipSize !== undefined);
    context.index.addChange({ jobId, type: "job:status", status: terminal ? status.status : "generating", at: context.now().toISOString() });
  });
  return true;
}

// ------------------------------------------------------------ removing

/**
 * Removes a job: its directory is renamed out of sight (atomic), its ZIP
 * removed or kept, its rows dropped. On a full disk the index may have no
 * room even to record the intent: the directory is removed first then, to
 * make the room. `false` when there was no such job (or, with
 * `onlyIfExpired`, when it is no longer expired).
 */
export async function removeJob(
  context: StorageContext,
  jobId: string,
  options: { keepZip: boolean; onlyIfExpired?: boolean },
): Promise<boolean> {
  const { index } = context;
  const layout = context.layout(jobId);
  let intent: number | undefined;
  try {
    const found = transact(context, () => {
      const record = index.getJob(jobId);
      if (!record || (options.onlyIfExpired === true && !isExpired(record, context.now()))) return false;
      intent = index.addIntent({ owner: context.owners.id, jobId, kind: "remove-job", path: undefined, fromPath: undefined, tmp: undefined });
      return true;
    });
    if (!found) return false;
  } catch (error) {
    if (!isJobStorageError(error, "STORAGE_FULL")) throw error;
    if (!index.hasJob(jobId)) return false;
    context.logger.warn({ err: error, jobId }, "disk full: removing the job before recording it");
  }
  const trash = path.join(context.basePath, BASE_TMP_DIR, `${TRASH_PREFIX}${jobId}-${randomUUID()}`);
  let moved = false;
  try {
    await fs.rename(layout.dir, trash);
    moved = true;
  } catch (error) {
    if (errnoCode(error) !== "ENOENT") throw error;
  }
  let keptSize: number | undefined;
  if (options.keepZip) keptSize = await sizeOf(layout.zip);
  else await removeFile(layout.zip);
  const forget = (): void =>
    transact(context, () => {
      index.deleteJob(jobId);
      if (keptSize !== undefined) index.keepZip(jobId, keptSize, context.now().getTime());
      else index.forgetKeptZip(jobId);
      if (intent !== undefined) index.removeIntent(intent);
    });
  try {
    forget();
  } catch (error) {
    if (!isJobStorageError(error, "STORAGE_FULL")) throw error;
    if (moved) await fse.remove(trash);
    moved = false;
    forget();
  }
  if (moved) await fse.remove(trash);
  return true;
}

/** Every expired job (and, past their age, leftovers) removed, or with `dryRun` only counted. */
export async function cleanupExpired(context: StorageContext, dryRun: boolean, signal: AbortSignal | undefined): Promise<CleanupResult> {
  const now = context.now();
  const cleanedJobs: string[] = [];
  let freedBytes = 0;
  const limit = pLimit(4);
  await Promise.all(
    context.index.expiredJobs(now.getTime()).map((record) =>
      limit(async () => {
        signal?.throwIfAborted();
        const zipBytes = (await sizeOf(context.layout(record.jobId).zip)) ?? 0;
        const bytes = record.totalSizeBytes + record.recordSizeBytes + (record.planSizeBytes ?? 0) + zipBytes;
        if (!dryRun) {
          // Another process may have extended or removed it meanwhile: checked again inside.
          if (!(await removeJob(context, record.jobId, { keepZip: false, onlyIfExpired: true }))) return;
          context.notify("job:expired", { jobId: record.jobId, freedBytes: bytes });
        }
        cleanedJobs.push(record.jobId);
        freedBytes += bytes;
      }),
    ),
  );
  freedBytes += await cleanupLeftovers(context, now, dryRun, signal);
  if (!dryRun && cleanedJobs.length > 0) context.logger.info({ cleanedJobs: cleanedJobs.length, freedBytes }, "expired jobs cleaned up");
  return { cleanedJobs: cleanedJobs.sort(), freedBytes };
}

async function cleanupLeftovers(context: StorageContext, now: Date, dryRun: boolean, signal: AbortSignal | undefined): Promise<number> {
  const { basePath, index } = context;
  const oldEnough = (mtime: Date, ageMs: number): boolean => now.getTime() - mtime.getTime() >= ageMs;
  const victims: string[] = [];
  const keptZips: string[] = [];
  const baseTmp = path.join(basePath, BASE_TMP_DIR);
  for (const name of await readdirNames(baseTmp)) {
    const full = path.join(baseTmp, name);
    if (name.startsWith(TRASH_PREFIX)) victims.push(full); // a deletion that was interrupted
    else if (oldEnough(await mtimeOf(full, now), LEFTOVER_AGE_MS)) victims.push(full);
  }
  const jobs = index.jobIds();
  const kept = new Map(index.keptZips().map((zip) => [zip.jobId, zip.keptMs]));
  // Only what this library makes is touched: a base path pointed at a
  // directory with other content loses none of it.
  for (const entry of await fs.readdir(basePath, { withFileTypes: true })) {
    const full = path.join(basePath, entry.name);
    const zipTarget = entry.isFile() ? zipTempTarget(entry.name) : undefined;
    if (zipTarget !== undefined && zipTarget.endsWith(ZIP_SUFFIX) && isValidJobId(zipTarget.slice(0, -ZIP_SUFFIX.length))) {
      if (oldEnough(await mtimeOf(full, now), LEFTOVER_AGE_MS)) victims.push(full);
    } else if (entry.isFile() && entry.name.endsWith(ZIP_SUFFIX)) {
      const jobId = entry.name.slice(0, -ZIP_SUFFIX.length);
      if (!isValidJobId(jobId) || jobs.has(jobId)) continue;
      // A ZIP kept by deleteJob(id, { keepZip: true }), or one whose job is gone.
      const keptMs = kept.get(jobId);
      const since = keptMs === undefined ? await mtimeOf(full, now) : new Date(keptMs);
      if (oldEnough(since, context.options.expiryHours * HOUR_MS)) {
        victims.push(full);
        keptZips.push(jobId);
      }
    } else if (entry.isDirectory() && isValidJobId(entry.name) && !jobs.has(entry.name)) {
      // A job directory without metadata: only if everything in it is ours.
      const names = await readdirNames(full);
      const ours = names.length > 0 && names.every((name) => JOB_DIR_ENTRIES.has(name));
      if (ours && oldEnough(await mtimeOf(full, now), LEFTOVER_AGE_MS)) victims.push(full);
    }
  }
  for (const jobId of jobs) {
    const tmpDir = context.layout(jobId).tmp;
    for (const name of await readdirNames(tmpDir)) {
      const full = path.join(tmpDir, name);
      if (oldEnough(await mtimeOf(full, now), LEFTOVER_AGE_MS)) victims.push(full);
    }
  }
  let freed = 0;
  for (const victim of victims) {
    signal?.throwIfAborted();
    freed += await treeSize(victim);
    if (!dryRun) await fse.remove(victim);
  }
  if (!dryRun && keptZips.length > 0) {
    transact(context, () => {
      for (const jobId of keptZips) index.forgetKeptZip(jobId);
    });
  }
  return freed;
}

// -------------------------------------------------------------- helpers

export async function readdirNames(dir: string): Promise<string[]> {
  try {
    return await fs.readdir(dir);
  } catch (error) {
    if (errnoCode(error) === "ENOENT" || errnoCode(error) === "ENOTDIR") return [];
    throw error;
  }
}

export async function sizeOf(file: string): Promise<number | undefined> {
  try {
    const stat = await fs.lstat(file);
    return stat.isFile() ? stat.size : undefined;
  } catch (error) {
    if (errnoCode(error) === "ENOENT" || errnoCode(error) === "ENOTDIR") return undefined;
    throw error;
  }
}

async function mtimeOf(file: string, now: Date): Promise<Date> {
  try {
    return (await fs.lstat(file)).mtime;
  } catch (error) {
    if (errnoCode(error) === "ENOENT") return now; // gone already: not a leftover
    throw error;
  }
}

/** Bytes below `target` (a file or a directory), links not followed. */
async function treeSize(target: string): Promise<number> {
  let stat;
  try {
    stat = await fs.lstat(target);
  } catch (error) {
    if (errnoCode(error) === "ENOENT") return 0;
    throw error;
  }
  if (!stat.isDirectory()) return stat.size;
  let total = 0;
  for (const name of await readdirNames(target)) total += await treeSize(path.join(target, name));
  return total;
}
