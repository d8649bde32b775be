/**
 * The operator commands: `stats`, `ls`, `cleanup`, `zip`. Each prints either
 * a human-readable report or, with `--json`, the library's own objects.
 */
import { randomBytes } from "node:crypto";
import { createWriteStream } from "node:fs";
import fs from "node:fs/promises";
import path from "node:path";
import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { defaultBasePath, loadOptionsFromEnv, type JobStorageOptions } from "../config.js";
import { JobStorageError, errnoCode, isDiskFullError } from "../errors.js";
import { manualScheduler } from "../expiry/manual.js";
import { JobStorageManager } from "../manager/manager.js";
import type { JobMetadata } from "../manager/types.js";
import { validateJobId } from "../paths/validate.js";
import { JOB_STATUSES, type JobStatus } from "../schemas.js";
import { formatBytes, formatDuration, formatPairs, formatTable } from "./format.js";
import { UsageError, type CliIo } from "./io.js";
import { progressBar } from "./progress.js";

/** Options every command accepts. */
export interface CommonOptions {
  json: boolean;
  /** `--base-path`, as given. */
  basePath: string | undefined;
}

/** Prints `value` as the command's result: JSON with `--json`, else `human()`. */
export function print(io: CliIo, common: CommonOptions, value: unknown, human: () => string): void {
  io.stdout.write(common.json ? `${JSON.stringify(value, null, 2)}\n` : `${human()}\n`);
}

/** The base path the commands work on: `--base-path`, else `JOBS_BASE_PATH`, else the default. */
export function storageOptions(io: CliIo, common: CommonOptions): JobStorageOptions {
  const options = loadOptionsFromEnv(io.env);
  if (common.basePath !== undefined) {
    if (common.basePath.trim() === "") throw new UsageError("--base-path must not be empty");
    options.basePath = common.basePath;
  }
  if (options.basePath !== undefined) options.basePath = path.resolve(io.cwd, options.basePath);
  // The command line never schedules: an operator's `cleanup` is explicit.
  return { ...options, scheduler: manualScheduler() };
}

/**
 * Opens the manager on an existing storage. A directory that the library has
 * never opened is refused rather than adopted: `cleanup` removes job-like
 * directories it does not know, so it must not run on, say, a home directory.
 */
export async function openExistingStorage(io: CliIo, common: CommonOptions): Promise<JobStorageManager> {
  const options = storageOptions(io, common);
  const basePath = path.resolve(options.basePath ?? defaultBasePath());
  if (!(await JobStorageManager.isBasePath(basePath))) {
    throw new JobStorageError(
      "INVALID_INPUT",
      `No job storage at ${basePath} (pass --base-path DIR or set JOBS_BASE_PATH to the host's base path)`,
    );
  }
  return JobStorageManager.open({ ...options, basePath });
}

// ------------------------------------------------------------------ stats

export async function statsCommand(io: CliIo, common: CommonOptions): Promise<void> {
  await using storage = await openExistingStorage(io, common);
  const stats = await storage.getStats();
  print(io, common, stats, () => {
    const byStatus = JOB_STATUSES.map((status) => `${status} ${stats.jobsByStatus[status]}`).join(", ");
    return formatPairs([
      ["base path", stats.basePath],
      ["jobs", `${stats.jobCount} (${byStatus})`],
      ["files", String(stats.fileCount)],
      ["on disk", `${formatBytes(stats.totalSizeBytes)} (${stats.totalSizeBytes} bytes: files, ZIPs, metadata)`],
      ["expiry", `${stats.expiryHours} h`],
      ["disk free", formatBytes(stats.diskFreeBytes)],
    ]);
  });
}

// --------------------------------------------------------------------- ls

/** Parses `--status`. */
export function parseStatus(value: string | undefined): JobStatus | undefined {
  if (value === undefined) return undefined;
  if (!(JOB_STATUSES as readonly string[]).includes(value)) {
    throw new UsageError(`--status must be one of ${JOB_STATUSES.join(", ")}, got ${JSON.stringify(value)}`);
  }
  return value as JobStatus;
}

/** The `ls` table: id, status, files, size, age, expires in, project. */
export function formatJobTable(jobs: readonly JobMetadata[], now: Date): string {
  if (jobs.length === 0) return "no jobs";
  const rows = jobs.map((job) => {
    const age = now.getTime() - Date.parse(job.createdAt);
    const left = Date.parse(job.expiresAt) - now.getTime();
    return [
      job.jobId,
      job.status,
      String(job.filesCount),
      formatBytes(job.totalSizeBytes),
      formatDuration(age),
      left > 0 ? formatDuration(left) : "expired",
      job.userId,
      job.projectName,
    ];
  });
  return formatTable(
    ["ID", "STATUS", "FILES", "SIZE", "AGE", "EXPIRES IN", "USER", "PROJECT"],
    rows,
    ["left", "left", "right", "right", "right", "right", "left", "left"],
  );
}

export async function lsCommand(
  io: CliIo,
  common: CommonOptions,
  filter: { status: string | undefined; user: string | undefined },
): Promise<void> {
  const status = parseStatus(filter.status);
  if (filter.user !== undefined && filter.user === "") throw new UsageError("--user must not be empty");
  await using storage = await openExistingStorage(io, common);
  const jobs = await storage.listJobs({ status, userId: filter.user });
  print(io, common, jobs, () => formatJobTable(jobs, new Date()));
}

// ---------------------------------------------------------------- cleanup

export async function cleanupCommand(io: CliIo, common: CommonOptions, dryRun: boolean): Promise<void> {
  await using storage = await openExistingStorage(io, common);
  const result = await storage.cleanupExpired({ dryRun });
  print(io, common, result, () => {
    const jobs = result.cleanedJobs.length;
    const noun = jobs === 1 ? "job" : "jobs";
    const head = dryRun
      ? `Would remove ${jobs} expired ${noun} and free ${formatBytes(result.freedBytes)} (dry run: nothing was removed)`
      : `Removed ${jobs} expired ${noun}, freed ${formatBytes(result.freedBytes)}`;
    return [head, ...result.cleanedJobs.map((jobId) => `  ${jobId}`)].join("\n");
  });
}

// ----------------------------------------------------------------- verify

/** Re-hashes a job's files against the index. Resolves to exit code 1 when anything differs. */
export async function verifyCommand(io: CliIo, common: CommonOptions, jobId: string): Promise<number> {
  validateJobId(jobId);
  await using storage = await openExistingStorage(io, common);
  const result = await storage.verifyJob(jobId);
  print(io, common, { jobId, ...result }, () => {
    const head = result.ok
      ? `OK: ${result.checked} files of ${jobId} match the index`
      : `FAULT: ${jobId}: ${result.mismatched.length} changed, ${result.missing.length} missing, ${result.unexpected.length} unknown to the index (${result.checked} checked)`;
    const list = (label: string, paths: string[]): string[] => paths.map((p) => `  ${label}  ${p}`);
    return [head, ...list("changed   ", result.mismatched), ...list("missing   ", result.missing), ...list("unexpected", result.unexpected)].join("\n");
  });
  return result.ok ? 0 : 1;
}

// -------------------------------------------------------------------- zip

/** What `zip --json` prints. */
export interface ZipCommandResult {
  jobId: string;
  /** Absolute path of the copy. */
  out: string;
  sizeBytes: number;
  /** True when this command completed the job and built its ZIP. */
  built: boolean;
  job: JobMetadata;
}

async function copyWithProgress(
  source: NodeJS.ReadableStream,
  out: string,
  size: number,
  onBytes: (done: number, total: number) => void,
): Promise<void> {
  const partial = path.join(path.dirname(out), `.${path.basename(out)}.${randomBytes(6).toString("hex")}.partial`);
  let copied = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      copied += chunk.length;
      onBytes(copied, size);
      callback(null, chunk);
    },
  });
  try {
    // The temporary file is in the destination directory, so the rename never
    // crosses file systems (no EXDEV when --out is on another mount than the base path).
    await pipeline(source, counter, createWriteStream(partial, { flags: "wx" }));
    // A plain rename, not fs-extra's move: with overwrite, move removes the older FILE
    // first, which would leave a moment with no FILE at all.
    await fs.rename(partial, out);
  } catch (error) {
    await fs.rm(partial, { force: true });
    if (isDiskFullError(error)) {
      throw new JobStorageError("STORAGE_FULL", `No space left on the file system of ${path.dirname(out)} to write ${out}`, {
        cause: error,
      });
    }
    throw error;
  }
}

export async function zipCommand(io: CliIo, common: CommonOptions, jobId: string, outOption: string | undefined): Promise<void> {
  validateJobId(jobId);
  await using storage = await openExistingStorage(io, common);
  const before = await storage.getJob(jobId);
  if (!before) throw new JobStorageError("JOB_NOT_FOUND", `Job "${jobId}" not found in ${storage.basePath}`, { jobId });
  let built = false;
  if (before.status === "generating") {
    // Completing is what builds the ZIP; from here on the job takes no more writes.
    const bar = progressBar(io.stderr, "building");
    try {
      await storage.completeJob(jobId, { onProgress: (p) => bar.update(p.bytes, p.totalBytes) });
    } finally {
      bar.finish();
    }
    built = true;
  }
  const zip = await storage.openZip(jobId);
  let out: string;
  try {
    out = path.resolve(io.cwd, outOption ?? zip.fileName);
    const stat = await fs.stat(out).catch((error: unknown) => {
      if (errnoCode(error) === "ENOENT") return undefined;
      throw error;
    });
    if (stat?.isDirectory()) out = path.join(out, zip.fileName);
    const bar = progressBar(io.stderr, "copying");
    try {
      await copyWithProgress(zip.stream, out, zip.size, (done, total) => bar.update(done, total));
    } finally {
      bar.finish();
    }
  } finally {
    zip.stream.destroy();
  }
  const job = (await storage.getJob(jobId)) ?? before;
  const result: ZipCommandResult = { jobId, out, sizeBytes: zip.size, built, job };
  print(io, common, result, () => {
    const action = built ? `Completed job ${jobId} and built its ZIP; wrote` : "Wrote";
    return `${action} ${out} (${formatBytes(zip.size)}, ${job.filesCount} files)`;
  });
}
