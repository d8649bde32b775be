/**
 * Deleting and moving generated files. Like a write, each records an intent
 * in the transaction that updates the index, touches the disk, and records
 * the outcome; a row whose file another process removed meanwhile goes too.
 */
import fsSync from "node:fs";
import fs from "node:fs/promises";
import { JobStorageError, errnoCode } from "../errors.js";
import { assertWritable, requireWriteState, trackWrite, transact, unlessJobGone, type StorageContext } from "./context.js";
import { mapDiskFull } from "./fs-utils.js";
import { prepareTarget, resolveExisting } from "./job-files.js";
import { settleForeignIntents, settlePaths } from "./maintenance.js";
import { waitForPaths } from "./path-turns.js";
import type { MoveFileResult } from "./types.js";
import { dropRow } from "./writes.js";

/** What a transaction returns when the path has another change in flight: wait and account again. */
const BUSY = Symbol("busy");

/** Deletes a generated file; `false` when the index has no file at that path. */
export function deleteFile(context: StorageContext, jobId: string, relative: string): Promise<boolean> {
  return trackWrite(context, jobId, runDelete(context, jobId, relative));
}

async function runDelete(context: StorageContext, jobId: string, relative: string): Promise<boolean> {
  const { index } = context;
  assertWritable(requireWriteState(context, jobId), context.now());
  await settleForeignIntents(context, jobId);
  const layout = context.layout(jobId);
  const target = await resolveExisting(layout.files, context.realFiles(jobId), relative);
  if (target === undefined) return false;
  let intent: number | typeof BUSY | undefined;
  for (;;) {
    intent = transact(
      context,
      () => {
        assertWritable(requireWriteState(context, jobId), context.now());
        const row = index.getFile(jobId, relative);
        if (!row) return undefined;
        if (index.pathBusy(jobId, relative) !== undefined) return BUSY;
        dropRow(context, jobId, relative);
        // The bytes stay held until the file is gone from the disk.
        return index.addIntent({ owner: context.owners.id, jobId, kind: "delete", path: relative, fromPath: undefined, tmp: undefined, held: row.size });
      },
      { jobId, path: relative },
    );
    if (intent !== BUSY) break;
    await waitForPaths(context, jobId, [relative]);
  }
  if (intent === undefined) return false;
  try {
    await fs.unlink(target);
  } catch (error) {
    if (errnoCode(error) !== "ENOENT") {
      await settlePaths(context, jobId, [relative], [intent]);
      throw mapDiskFull(error, { jobId, path: relative });
    }
  }
  const at = context.now().toISOString();
  transact(context, () => {
    index.removeIntent(intent);
    // A write of this path in another process may have landed between the row going and the
    // unlink, and been removed by it: a row left without its file goes too.
    if (!fsSync.existsSync(target)) dropRow(context, jobId, relative);
    index.addChange({ jobId, type: "file:deleted", path: relative, at });
  });
  return true;
}

/** Renames a generated file inside its job (atomic on disk, one transaction in the index). */
export function moveFile(context: StorageContext, jobId: string, from: string, to: string, overwrite: boolean): Promise<MoveFileResult> {
  return trackWrite(context, jobId, runMove(context, jobId, from, to, overwrite));
}

async function runMove(context: StorageContext, jobId: string, from: string, to: string, overwrite: boolean): Promise<MoveFileResult> {
  const { index } = context;
  if (from === to) {
    throw new JobStorageError("INVALID_INPUT", `Cannot move "${from}" onto itself`, { jobId, path: from });
  }
  assertWritable(requireWriteState(context, jobId), context.now());
  await settleForeignIntents(context, jobId);
  const layout = context.layout(jobId);
  const notFound = (): JobStorageError =>
    new JobStorageError("FILE_NOT_FOUND", `File "${from}" not found in job "${jobId}"`, { jobId, path: from });
  const source = await resolveExisting(layout.files, context.realFiles(jobId), from);
  if (source === undefined || !index.getFile(jobId, from)) throw notFound();
  const target = await prepareTarget(layout.files, context.realFiles(jobId), jobId, to);
  let replaced = false;
  const accountMove = (): number | typeof BUSY => {
    assertWritable(requireWriteState(context, jobId), context.now());
    const moving = index.getFile(jobId, from);
    if (!moving) throw notFound();
    if (index.pathBusy(jobId, from) !== undefined || index.pathBusy(jobId, to) !== undefined) return BUSY;
    const existing = index.getFile(jobId, to);
    const onDisk = lstatOrUndefined(target);
    if (onDisk?.isDirectory()) {
      throw new JobStorageError("INVALID_PATH", `Cannot move onto "${to}": it is a directory`, { jobId, path: to });
    }
    if ((existing || onDisk) && !overwrite) {
      throw new JobStorageError("FILE_EXISTS", `File "${to}" already exists in job "${jobId}" (pass overwrite to replace it)`, { jobId, path: to });
    }
    replaced = existing !== undefined;
    dropRow(context, jobId, to);
    dropRow(context, jobId, from);
    index.upsertFile(jobId, { ...moving, path: to });
    index.adjustCounts(jobId, 1, moving.size);
    // A replaced file's bytes stay held until the rename has landed.
    const held = existing?.size ?? 0;
    return index.addIntent({ owner: context.owners.id, jobId, kind: "move", path: to, fromPath: from, tmp: undefined, held });
  };
  let intent: number | typeof BUSY;
  for (;;) {
    intent = transact(context, accountMove, { jobId, path: from });
    if (intent !== BUSY) break;
    await waitForPaths(context, jobId, [from, to]);
  }
  try {
    await fs.rename(source, target);
  } catch (error) {
    await settlePaths(context, jobId, [from, to], [intent]);
    const gone = unlessJobGone(context, jobId, error);
    if (gone !== error) throw gone;
    const code = errnoCode(error);
    if (code === "ENOENT") throw notFound();
    if (code === "EISDIR" || code === "ENOTDIR" || code === "ENOTEMPTY") {
      throw new JobStorageError("INVALID_PATH", `Cannot move onto "${to}": a directory stands there`, { jobId, path: to, cause: error });
    }
    throw mapDiskFull(error, { jobId, path: to });
  }
  const at = context.now().toISOString();
  return transact(context, () => {
    index.removeIntent(intent);
    const moved = index.getFile(jobId, to);
    if (!fsSync.existsSync(target)) dropRow(context, jobId, to);
    index.addChange({ jobId, type: "file:moved", path: to, from, size: moved?.size, sha256: moved?.sha256, at });
    return { from, path: to, size: moved?.size ?? 0, sha256: moved?.sha256 ?? "", overwritten: replaced };
  });
}

function lstatOrUndefined(target: string): fsSync.Stats | undefined {
  try {
    return fsSync.lstatSync(target);
  } catch (error) {
    if (errnoCode(error) === "ENOENT") return undefined;
    throw error;
  }
}
