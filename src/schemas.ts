/**
 * zod schemas for everything that comes from outside: plans, file writes,
 * job creation. The HTTP handler validates request bodies with these, so a
 * host can reuse them (for example to validate an agent's output early).
 */
import { z } from "zod";
import { JOB_ID_PATTERN, isSafeJobPath } from "./paths/validate.js";

/** A job status. `expired` is derived from `expiresAt`, never stored. */
export type JobStatus = "generating" | "complete" | "failed" | "expired";
/** Every {@link JobStatus}. */
export const JOB_STATUSES: readonly JobStatus[] = Object.freeze(["generating", "complete", "failed", "expired"]);

/** A job id as accepted from a caller: `^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`. */
export const JobIdSchema = z.string().regex(JOB_ID_PATTERN, {
  message: "expected 1 to 64 letters, digits, '_' or '-', starting with a letter or digit",
});

/** A job-relative file path that passes `validateJobPath`. */
export const JobPathSchema = z.string().refine(isSafeJobPath, { message: "not a safe job-relative path" });

/** One task of a {@link Plan}. */
export interface PlanTask {
  /** What the task does ("Setup project"). */
  name: string;
  /** The files the task will write, job-relative. */
  files: string[];
}

/** The generation plan a planner agent writes before the files. */
export interface Plan {
  tasks: PlanTask[];
  /** Free-form details (framework, language, ...). */
  metadata?: Record<string, unknown>;
}

/** Validates a {@link Plan}: `{ tasks: [{ name, files }], metadata? }`. */
export const PlanSchema: z.ZodType<Plan> = z.object({
  tasks: z.array(z.object({ name: z.string().min(1), files: z.array(JobPathSchema) })),
  metadata: z.record(z.string(), z.unknown()).optional(),
});

/** Input of `createJob`. */
export interface CreateJobInput {
  /** Display name, also the ZIP's download name. */
  projectName: string;
  /** Owner of the job. @default "anonymous" */
  userId?: string;
  /** A caller-chosen id; generated (a random UUID) when absent. */
  jobId?: string;
  /** Hours until the job expires. @default the manager's `expiryHours` */
  ttlHours?: number;
}

/** Validates {@link CreateJobInput}. */
export const CreateJobInputSchema: z.ZodType<CreateJobInput> = z.object({
  projectName: z.string().min(1).max(200),
  userId: z.string().min(1).max(200).optional(),
  jobId: JobIdSchema.optional(),
  ttlHours: z.number().positive().max(24 * 365).optional(),
});

/** File content: text (stored as UTF-8) or bytes. */
export type FileContent = string | Uint8Array;

/** One entry of a `writeFiles` batch. */
export interface FileInput {
  /** Job-relative path. */
  path: string;
  /** The content. */
  content: FileContent;
  /** Store with mode 0755 (and so in the ZIP). */
  executable?: boolean;
}

/**
 * Validates one {@link FileInput}. The path is only checked to be a string
 * here: an unsafe path fails that one entry of a batch with `INVALID_PATH`
 * rather than the whole batch.
 */
export const FileInputSchema: z.ZodType<FileInput> = z.object({
  path: z.string(),
  content: z.union([z.string(), z.instanceof(Uint8Array)]),
  executable: z.boolean().optional(),
});

/** Validates a `writeFiles` batch. */
export const FileBatchSchema: z.ZodType<FileInput[]> = z.array(FileInputSchema);

/**
 * Formats a zod error as one line: `tasks.0.files.1: not a safe job-relative path`.
 * @internal
 */
export function formatIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) => (issue.path.length > 0 ? `${issue.path.join(".")}: ${issue.message}` : issue.message))
    .join("; ");
}
