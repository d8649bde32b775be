/**
 * The status record each job directory keeps (`job.json`), written to a
 * temporary name and renamed, so that it is whole or absent. It is what a
 * rebuild of the index reads; it changes only on status changes.
 */
import fsSync from "node:fs";
import fs from "node:fs/promises";
import type { StorageContext } from "./context.js";
import { removeFile, writeFileDurable } from "./fs-utils.js";
import { tempName } from "./job-files.js";
import { serializeStatusRecord, type StatusRecord } from "./record.js";

/** Writes `record` as the job's `job.json`; resolves to its size in bytes. */
export async function writeStatusFile(context: StorageContext, record: StatusRecord): Promise<number> {
  const layout = context.layout(record.jobId);
  const data = Buffer.from(serializeStatusRecord(record), "utf8");
  const tmp = tempName(layout.tmp, "job-");
  try {
    await writeFileDurable(tmp, data, { durable: context.options.fsync, flag: "wx" });
    if (context.options.fsync) await fs.rename(tmp, layout.record);
    else fsSync.renameSync(tmp, layout.record); // a metadata operation: cheaper than a thread-pool trip
  } catch (error) {
    await removeFile(tmp).catch(() => {});
    throw error;
  }
  return data.byteLength;
}
