/**
 * A job's record: the row the index keeps, how a host sees it, and the small
 * status file (`job.json`) each job directory keeps so that the index can be
 * rebuilt from the disk alone.
 */
import fs from "node:fs/promises";
import { z } from "zod";
import { errnoCode } from "../errors.js";
import type { JobMetadata } from "./types.js";

/** A job as the index holds it: the metadata less the derived `expired` status, plus internals. */
export interface JobRecord extends Omit<JobMetadata, "status"> {
  status: "generating" | "complete" | "failed";
  /** Bytes of plan.json, counted in getStats(). */
  planSizeBytes?: number;
  /** Bytes of job.json, counted in getStats(). */
  recordSizeBytes: number;
}

/** What `job.json` holds: everything but the counts, which the files themselves give. */
export type StatusRecord = Omit<JobRecord, "filesCount" | "totalSizeBytes" | "planSizeBytes" | "recordSizeBytes">;

const StatusRecordSchema = z.object({
  version: z.literal(2),
  jobId: z.string(),
  userId: z.string(),
  projectName: z.string(),
  status: z.enum(["generating", "complete", "failed"]),
  createdAt: z.string(),
  expiresAt: z.string(),
  zipReady: z.boolean(),
  zipSizeBytes: z.number().int().nonnegative().optional(),
  zipSha256: z.string().optional(),
  downloadUrl: z.string().optional(),
  s3Url: z.string().optional(),
  errorMessage: z.string().optional(),
});

/** The fields a record has only sometimes: copied when present, never as `undefined`. */
const OPTIONAL_FIELDS = ["zipSizeBytes", "zipSha256", "downloadUrl", "s3Url", "errorMessage"] as const;

function copyOptionalFields(from: Pick<JobRecord, (typeof OPTIONAL_FIELDS)[number]>, to: Partial<Record<(typeof OPTIONAL_FIELDS)[number], unknown>>): void {
  for (const field of OPTIONAL_FIELDS) {
    if (from[field] !== undefined) to[field] = from[field];
  }
}

/** The text of a `job.json` for `record`. */
export function serializeStatusRecord(record: StatusRecord | JobRecord): string {
  const status: Record<string, unknown> = {
    version: 2,
    jobId: record.jobId,
    userId: record.userId,
    projectName: record.projectName,
    status: record.status,
    createdAt: record.createdAt,
    expiresAt: record.expiresAt,
    zipReady: record.zipReady,
  };
  copyOptionalFields(record, status);
  return `${JSON.stringify(status, null, 2)}\n`;
}

/** Reads a `job.json`; `undefined` when it is missing or not a valid status record. */
export async function readStatusRecord(file: string): Promise<StatusRecord | undefined> {
  let text: string;
  try {
    text = await fs.readFile(file, "utf8");
  } catch (error) {
    const code = errnoCode(error);
    if (code === "ENOENT" || code === "ENOTDIR" || code === "EISDIR") return undefined;
    throw error;
  }
  try {
    const parsed = StatusRecordSchema.safeParse(JSON.parse(text));
    if (!parsed.success) return undefined;
    const { version: _version, ...record } = parsed.data;
    return record;
  } catch {
    return undefined;
  }
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
  copyOptionalFields(record, metadata);
  return metadata;
}
