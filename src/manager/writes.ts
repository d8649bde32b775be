/**
 * Writes of generated files: content is staged in the job's `tmp/`, then
 * one index transaction checks the job's state and quotas, accounts for the
 * batch and records an intent per file; the files are renamed into place;
 * a second transaction records the outcome. A process killed between the
 * two leaves intents that the next writer or `open()` settles by looking at
 * the disk (see maintenance.ts), so the counts always come back to the disk.
 */
import fsSync from "node:fs";
import fs from "node:fs/promises";
import { setImmediate as nextTurn } from "node:timers/promises";
import pLimit from "p-limit";
import { JobStorageError, errnoCode, isJobStorageError } from "../errors.js";
import { validateJobPath } from "../paths/validate.js";
import type { FileContent, FileInput } from "../schemas.js";
import { assertWritable, deferOutcome, flushOutcomes, requireWriteState, trackWrite, transact, unlessJobGone, type StorageContext } from "./context.js";
import { SYNC_WRITE_MAX_BYTES, exists, mapDiskFull, removeFile, writeFileDurable } from "./fs-utils.js";
import { prepareTarget, sha256, tempName } from "./job-files.js";
import { settleForeignIntents, settlePaths } from "./maintenance.js";
import { waitForPaths } from "./path-turns.js";
import type { WriteFilesEntryResult } from "./types.js";

/**
 * Files up to {@link SYNC_WRITE_MAX_BYTES} are staged and renamed with
 * synchronous calls (the index transaction between the two is synchronous
 * anyway); a batch lets the event loop run after this many such steps.
 */
const SYNC_STEPS_PER_TURN = 32;

/** A file of a batch whose content is staged in a temporary file. */
interface StagedWrite {
  index: number;
  path: string;
  size: number;
  mode: number;
  sha256: string;
  tmp: string;
  target: string;
  /** Inode of the staged file: after the rename it tells whether the target is still ours. */
  ino: number;
  /** Its mtime, which the rename keeps. */
  mtimeMs: number;
  /** Staged with synchronous calls (see {@link SYNC_WRITE_MAX_BYTES}), and renamed the same way. */
  sync: boolean;
  intent?: number;
  /** Bytes its intent holds against the project limit (what a smaller overwrite frees). */
  held?: number;
}

/** Writes a small file's content to a new temporary file; its stat comes from the open descriptor. */
function stageSync(tmp: string, data: Buffer, mode: number): fsSync.Stats {
  const fd = fsSync.openSync(tmp, "wx", mode);
  try {
    for (let written = 0; written < data.byteLength; ) written += fsSync.writeSync(fd, data, written);
    if (mode === 0o755) fsSync.fchmodSync(fd, 0o755); // the umask must not take the x bits
    return fsSync.fstatSync(fd);
  } finally {
    fsSync.closeSync(fd);
  }
}

/** Results of a batch, with the failed entries' errors by index. */
export interface BatchOutcome {
  results: WriteFilesEntryResult[];
  errors: Map<number, JobStorageError>;
}

function contentToBuffer(content: FileContent): Buffer {
  if (typeof content === "string") return Buffer.from(content, "utf8");
  return Buffer.from(content.buffer, content.byteOffset, content.byteLength);
}

/** Writes a validated batch to a job; each entry succeeds or fails on its own. */
export function writeBatch(context: StorageContext, jobId: string, files: FileInput[]): Promise<BatchOutcome> {
  return trackWrite(context, jobId, runBatch(context, jobId, files));
}

async function runBatch(context: StorageContext, jobId: string, files: FileInput[]): Promise<BatchOutcome> {
  const { index, options } = context;
  const layout = context.layout(jobId);
  const realFiles = context.realFiles(jobId);
  const results: WriteFilesEntryResult[] = [];
  const errors = new Map<number, JobStorageError>();
  const paths = new Map<string, number>();
  const prepared: { index: number; path: string; data: Buffer; sha256: string; mode: number }[] = [];

  files.forEach((file, position) => {
    results[position] = { path: file.path, success: false };
    let relative: string;
    try {
      relative = validateJobPath(file.path);
    } catch (error) {
      errors.set(position, error as JobStorageError);
      return;
    }
    results[position].path = relative;
    const data = contentToBuffer(file.content);
    if (data.byteLength > options.maxFileSizeBytes) {
      errors.set(
        position,
        new JobStorageError("FILE_TOO_LARGE", `File "${relative}" is ${data.byteLength} bytes, over the limit of ${options.maxFileSizeBytes}`, {
          jobId,
          path: relative,
          limit: options.maxFileSizeBytes,
        }),
      );
      return;
    }
    paths.set(relative, (paths.get(relative) ?? 0) + 1);
    prepared.push({ index: position, path: relative, data, sha256: sha256(data), mode: file.executable ? 0o755 : 0o644 });
  });

  // One read of the index before anything is staged: fail fast on the job's state (the
  // transaction below checks again), see whether a dead writer left intents, and find the
  // identical rewrites (same content at the same path: left as it is, no new mtime).
  const { foreign, unchanged } = index.read(() => {
    assertWritable(requireWriteState(context, jobId), context.now());
    const same = new Set<number>();
    for (const file of prepared) {
      if (paths.get(file.path) !== 1) continue;
      const known = index.getFile(jobId, file.path);
      if (known?.sha256 === file.sha256 && known.mode === file.mode) same.add(file.index);
    }
    return { foreign: index.foreignIntents(context.owners.id, jobId).length > 0, unchanged: same };
  });
  if (foreign) await settleForeignIntents(context, jobId);
  const toStage = prepared.filter((file) => {
    if (!unchanged.has(file.index)) return true;
    results[file.index] = { path: file.path, success: true, size: file.data.byteLength, unchanged: true };
    return false;
  });

  const staged: StagedWrite[] = [];
  const limit = pLimit(options.writeConcurrency);
  const checkedParents = new Map<string, Promise<void>>();
  let jobGone = false;
  let syncSteps = 0;
  await Promise.all(
    toStage.map((file) =>
      limit(async () => {
        if (jobGone) return;
        const tmp = tempName(layout.tmp);
        try {
          const target = await prepareTarget(layout.files, realFiles, jobId, file.path, checkedParents);
          const sync = !options.fsync && file.data.byteLength <= SYNC_WRITE_MAX_BYTES;
          let stat: fsSync.Stats;
          if (sync) stat = stageSync(tmp, file.data, file.mode);
          else {
            await writeFileDurable(tmp, file.data, { durable: options.fsync, flag: "wx", mode: file.mode });
            if (file.mode === 0o755) await fs.chmod(tmp, 0o755); // the umask must not take the x bits
            stat = fsSync.lstatSync(tmp);
          }
          const { ino, mtimeMs } = stat;
          staged.push({ index: file.index, path: file.path, size: file.data.byteLength, mode: file.mode, sha256: file.sha256, tmp, target, ino, mtimeMs, sync });
          if (sync && (syncSteps += 1) % SYNC_STEPS_PER_TURN === 0) await nextTurn();
        } catch (error) {
          await removeFile(tmp).catch(() => {});
          if (isJobStorageError(error)) errors.set(file.index, error);
          else if (errnoCode(error) === "ENOENT" && !(await exists(layout.record))) jobGone = true;
          else {
            const mapped = mapDiskFull(error, { jobId, path: file.path });
            if (!isJobStorageError(mapped)) throw error;
            errors.set(file.index, mapped);
          }
        }
      }),
    ),
  );
  staged.sort((a, b) => a.index - b.index); // batch order decides which of two same-path writes wins
  const discard = (items: StagedWrite[]): Promise<unknown> => Promise.all(items.map((item) => removeFile(item.tmp).catch(() => {})));
  if (jobGone) {
    await discard(staged);
    throw new JobStorageError("JOB_NOT_FOUND", `Job "${jobId}" not found`, { jobId });
  }

  // Rounds: a write whose path has another change in flight waits for it (path-turns.ts).
  let pending = staged;
  for (let round = 0; pending.length > 0; round += 1) {
    let turn: AccountedTurn;
    try {
      if (round > 0) await waitForPaths(context, jobId, pending.map((item) => item.path));
      turn = transact(context, () => account(context, jobId, pending, errors), { jobId });
    } catch (error) {
      await discard(pending);
      // The first round's refusal (job gone, not writable) is the whole call's; later, earlier
      // rounds have landed, so it is each remaining entry's.
      if (!isJobStorageError(error) || (round === 0 && error.code !== "STORAGE_FULL")) throw error;
      for (const item of pending) errors.set(item.index, new JobStorageError(error.code, error.message, { jobId, path: item.path, cause: error.cause }));
      break;
    }
    const kept = new Set([...turn.accepted, ...turn.waiting]); // a Set: a batch may hold thousands
    await discard(pending.filter((item) => !kept.has(item)));
    await land(context, jobId, turn.accepted, errors);
    for (const item of turn.accepted) {
      if (!errors.has(item.index)) results[item.index] = { path: item.path, success: true, size: item.size };
    }
    pending = turn.waiting;
  }
  for (const [position, error] of errors) {
    results[position] = { path: results[position]!.path, success: false, error: { code: error.code, message: error.message } };
  }
  return { results, errors };
}

/** What one transaction of a batch did: writes accounted for, and writes whose path was busy. */
interface AccountedTurn {
  accepted: StagedWrite[];
  waiting: StagedWrite[];
}

/**
 * Inside the transaction: checks the job, then accounts for every staged
 * write in order (quota first), recording an intent for each accepted one.
 * A write whose path has another change in flight waits for a later round,
 * and so do the batch's later writes to that path.
 *
 * The project limit counts the bytes in flight changes hold: a write that
 * makes a file smaller frees the difference only once it has landed.
 */
function account(context: StorageContext, jobId: string, staged: StagedWrite[], errors: Map<number, JobStorageError>): AccountedTurn {
  const { index, options, owners } = context;
  const record = requireWriteState(context, jobId);
  assertWritable(record, context.now());
  let usage = record.totalSizeBytes + index.heldBytes(jobId);
  const accepted: StagedWrite[] = [];
  const waiting: StagedWrite[] = [];
  const ours = new Set<string>(); // paths this transaction has accounted for
  const busy = new Set<string>();
  for (const item of staged) {
    if (busy.has(item.path) || (!ours.has(item.path) && index.pathBusy(jobId, item.path) !== undefined)) {
      busy.add(item.path);
      waiting.push(item);
      continue;
    }
    const previousSize = index.getFile(jobId, item.path)?.size;
    const next = usage + Math.max(0, item.size - (previousSize ?? 0));
    if (next > options.maxProjectSizeBytes) {
      errors.set(
        item.index,
        new JobStorageError(
          "PROJECT_TOO_LARGE",
          `Writing "${item.path}" would bring the project to ${next} bytes, over the limit of ${options.maxProjectSizeBytes}`,
          { jobId, path: item.path, limit: options.maxProjectSizeBytes },
        ),
      );
      continue;
    }
    usage = next;
    index.upsertFile(jobId, { path: item.path, size: item.size, mode: item.mode, mtimeMs: item.mtimeMs, sha256: item.sha256 });
    index.adjustCounts(jobId, previousSize === undefined ? 1 : 0, item.size - (previousSize ?? 0));
    item.held = Math.max(0, (previousSize ?? 0) - item.size);
    item.intent = index.addIntent({ owner: owners.id, jobId, kind: "file", path: item.path, fromPath: undefined, tmp: item.tmp, held: item.held });
    ours.add(item.path);
    accepted.push(item);
  }
  return { accepted, waiting };
}

/** Renames the accepted writes into place, then records the outcome in one transaction. */
async function land(context: StorageContext, jobId: string, accepted: StagedWrite[], errors: Map<number, JobStorageError>): Promise<void> {
  if (accepted.length === 0) return;
  const failed = new Set<StagedWrite>();
  // Boxed, so that "nothing unexpected" differs from a thrown `undefined`.
  let unexpected: { error: unknown } | undefined;
  let renames = 0;
  // Distinct targets move in parallel; writes to one target keep batch order.
  const byTarget = new Map<string, StagedWrite[]>();
  for (const item of accepted) byTarget.set(item.target, [...(byTarget.get(item.target) ?? []), item]);
  await Promise.all(
    [...byTarget.values()].map(async (group) => {
      for (const item of group) {
        try {
          if (item.sync) {
            fsSync.renameSync(item.tmp, item.target);
            if ((renames += 1) % SYNC_STEPS_PER_TURN === 0) await nextTurn();
          } else await fs.rename(item.tmp, item.target);
        } catch (error) {
          failed.add(item);
          await removeFile(item.tmp).catch(() => {});
          const code = errnoCode(error);
          const gone = unlessJobGone(context, jobId, error);
          const mapped = isJobStorageError(gone)
            ? gone
            : code === "EISDIR" || code === "ENOTDIR" || code === "ENOTEMPTY"
              ? new JobStorageError("INVALID_PATH", `"${item.path}" is a directory`, { jobId, path: item.path, cause: error })
              : mapDiskFull(error, { jobId, path: item.path });
          if (isJobStorageError(mapped)) errors.set(item.index, mapped);
          else unexpected ??= { error };
        }
      }
    }),
  );
  // A write that did not land: its row goes back to whatever the disk holds.
  if (failed.size > 0) await settlePaths(context, jobId, [...new Set([...failed].map((item) => item.path))]);
  const at = context.now().toISOString();
  deferOutcome(context, () => {
    for (const item of accepted) {
      if (item.intent !== undefined) context.index.removeIntent(item.intent);
      if (failed.has(item)) continue;
      confirm(context, jobId, item);
      context.index.addChange({ jobId, type: "file:written", path: item.path, size: item.size, sha256: item.sha256, at });
    }
  });
  // Bytes a smaller overwrite frees are free for every process once the call returns.
  if (accepted.some((item) => (item.held ?? 0) > 0)) flushOutcomes(context);
  if (unexpected !== undefined) throw unexpected.error;
}

/**
 * The target holds this write's content only if no later write got there
 * first: the inode tells. Then the row gets the file's real mtime.
 */
function confirm(context: StorageContext, jobId: string, item: StagedWrite): void {
  let stat: fsSync.Stats | undefined;
  try {
    stat = fsSync.lstatSync(item.target);
  } catch (error) {
    // Gone (a deleteFile in another process since it landed, or the job removed): the row goes too.
    // Never thrown: this runs inside whatever transaction carries it.
    if (errnoCode(error) !== "ENOENT") context.logger.warn({ err: error, jobId }, "could not look at a written file");
  }
  if (!stat) return dropRow(context, jobId, item.path);
  if (stat.ino !== item.ino) return; // another write replaced it; its own outcome records it
  const current = context.index.getFile(jobId, item.path);
  if (current?.sha256 === item.sha256 && current.mode === item.mode) return; // the usual case: as accounted
  context.index.upsertFile(jobId, { path: item.path, size: item.size, mode: item.mode, mtimeMs: stat.mtimeMs, sha256: item.sha256 });
  context.index.adjustCounts(jobId, current ? 0 : 1, item.size - (current?.size ?? 0));
}

/** Removes a file's row and its share of the counts (inside a transaction). */
export function dropRow(context: StorageContext, jobId: string, filePath: string): void {
  const row = context.index.getFile(jobId, filePath);
  if (!row) return;
  context.index.deleteFile(jobId, filePath);
  context.index.adjustCounts(jobId, -1, -row.size);
}
