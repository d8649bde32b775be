/**
 * The metadata file of a job (`job.json`): what is stored, how it is read
 * and written, and how a host sees it.
 */
import fs from "node:fs/promises";
import { z } from "zod";
import { errnoCode } from "../errors.js";
import type { JobMetadata } from "./types.js";

/** What `job.json` holds: the metadata less the derived `expired` status, plus internals. */
export interface JobRecord extends Omit<JobMetadata, "status"> {
  version: 1;
  status: "generating" | "complete" | "failed";
  /** Bytes of plan.json, counted in getStats() without a stat per job. */
  planSizeBytes?: number;
}

const RecordSchema = z.object({
  version: z.literal(1),
  jobId: z.string(),
  userId: z.string(),
  projectName: z.string(),
  status: z.enum(["generating", "complete", "failed"]),
  createdAt: z.string(),
  expiresAt: z.string(),
  filesCount: z.number().int().nonnegative(),
  totalSizeBytes: z.number().int().nonnegative(),
  zipReady: z.boolean(),
  zipSizeBytes: z.number().int().nonnegative().optional(),
  downloadUrl: z.string().optional(),
  s3Url: z.string().optional(),
  errorMessage: z.string().optional(),
  planSizeBytes: z.number().int().nonnegative().optional(),
});

/** Parses the text of a `job.json`; `undefined` when it is not a valid record. */
export function parseRecord(text: string): JobRecord | undefined {
  try {
    const parsed = RecordSchema.safeParse(JSON.parse(text));
    return parsed.success ? (parsed.data as JobRecord) : undefined;
  } catch {
    return undefined;
  }
}

/** Reads a `job.json`; `undefined` when it does not exist (or is not a record). */
export async function readRecord(file: string): Promise<JobRecord | undefined> {
  try {
    return parseRecord(await fs.readFile(file, "utf8"));
  } catch (error) {
    const code = errnoCode(error);
    if (code === "ENOENT" || code === "ENOTDIR") return undefined;
    throw error;
  }
}

export function serializeRecord(record: JobRecord): string {
  return `${JSON.stringify(record, null, 2)}\n`;
}

/** Whether the job is past its `expiresAt` at `now`. */
export function isExpired(record: Pick<JobRecord, "expiresAt">, now: Date): boolean {
  return Date.parse(record.expiresAt) <= now.getTime();
}

/** The host's view of a record at `now`. */
export function toMetadata(record: JobRecord, now: Date): JobMetadata {
  const metadata: JobMetadata = {
    jobId: record.jobId,
    userId: record.userId,
    projectName: record.projectName,
    status: isExpired(record, now) ? "expired" : record.status,
    createdAt: record.createdAt,
    expiresAt: record.expiresAt,
    filesCount: record.filesCount,
    totalSizeBytes: record.totalSizeBytes,
    zipReady: record.zipReady,
  };
  if (record.zipSizeBytes !== undefined) metadata.zipSizeBytes = record.zipSizeBytes;
  if (record.downloadUrl !== undefined) metadata.downloadUrl = record.downloadUrl;
  if (record.s3Url !== undefined) metadata.s3Url = record.s3Url;
  if (record.errorMessage !== undefined) metadata.errorMessage = record.errorMessage;
  return metadata;
}
