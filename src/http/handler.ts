/**
 * The REST API of the original design guide as one web-standard
 * `(request: Request) => Promise<Response>` handler: usable as is in
 * Next.js route handlers, Hono, Bun or Deno, and through `toNodeHandler` in
 * Express, Connect and `node:http`.
 */
import { createHash } from "node:crypto";
import fs from "node:fs/promises";
import type { Readable } from "node:stream";
import { inspect } from "node:util";
import type { ZodType } from "zod";
import { JobStorageError, isJobStorageError } from "../errors.js";
import type { Logger } from "../logger.js";
import type { JobStorageManager } from "../manager/manager.js";
import type { JobMetadata } from "../manager/types.js";
import { validateJobId, validateJobPath } from "../paths/validate.js";
import {
  CreateJobInputSchema,
  FileBatchSchema,
  FileInputSchema,
  JOB_STATUSES,
  formatIssues,
  type CreateJobInput,
  type FileInput,
  type JobStatus,
} from "../schemas.js";
import { contentDisposition } from "../headers/content-disposition.js";
import { readJsonBody } from "./body.js";
import { decideRange, ifNoneMatchHits, strongEtag } from "./conditional.js";
import { HttpError, errorResponse, jsonResponse, statusForErrorCode } from "./responses.js";
import {
  CreateJobBodySchema,
  ExtendJobBodySchema,
  FailJobBodySchema,
  FileBatchBodySchema,
  FileBodySchema,
  MoveFileBodySchema,
  PlanBodySchema,
  type FileBody,
} from "./schemas.js";
import {
  serializeCleanup,
  serializeFile,
  serializeJob,
  serializeMove,
  serializeProgress,
  serializeStats,
  serializeWriteFile,
  serializeWriteFiles,
} from "./serialize.js";
import { sseResponse } from "./sse.js";
import { toWebStream } from "./streams.js";

const KIB = 1024;
const MIB = 1024 * KIB;
/** The manager's defaults, used when the storage does not expose its limits. */
const DEFAULT_MAX_FILE_SIZE_BYTES = 10 * MIB;
const DEFAULT_MAX_PROJECT_SIZE_BYTES = 100 * MIB;
/** Bodies of routes that carry no file content (create, fail, extend). */
const SMALL_BODY_BYTES = 64 * KIB;
/** Interval of the `: keep-alive` comment on `GET /{id}/events`. */
const DEFAULT_HEARTBEAT_MS = 15_000;
/** Conditional reads are revalidated every time, and never kept by shared caches. */
const REVALIDATE = "private, no-cache";
/** First path segments that are routes, so no job may be created under these ids. */
const RESERVED_JOB_IDS = new Set(["create", "admin"]);

/** Who is calling, as `authorize` resolves it. */
export interface JobsAuth {
  /** Owner of the jobs the caller creates; the caller sees only these jobs. */
  userId: string;
  /** May use the admin routes and sees every user's jobs. @default false */
  admin?: boolean;
}

/**
 * What the handler needs of a storage: a {@link JobStorageManager} or any
 * object with these methods (a fake in a test, say). `maxFileSizeBytes` and
 * `maxProjectSizeBytes`, when present, size the default body limits.
 */
export type JobsStorage = Pick<
  JobStorageManager,
  | "createJob"
  | "getJob"
  | "listJobs"
  | "writePlan"
  | "readPlan"
  | "writeFile"
  | "writeFiles"
  | "readFile"
  | "deleteFile"
  | "listFiles"
  | "moveFile"
  | "statFile"
  | "getProgress"
  | "watch"
  | "completeJob"
  | "failJob"
  | "extendJob"
  | "deleteJob"
  | "openZip"
  | "getStats"
  | "cleanupExpired"
> & {
  readonly maxFileSizeBytes?: number;
  readonly maxProjectSizeBytes?: number;
};

/** Options of {@link createJobsHandler}. Every one is optional. */
export interface JobsHandlerOptions {
  /** Where the routes are mounted: `POST ${prefix}/create`, ... @default "/api/v1/jobs" */
  prefix?: string;
  /**
   * Who is calling. Resolve `{ userId, admin? }`, or throw / reject to answer
   * 401. A caller sees only the jobs it created (another user's job answers
   * 404); the admin routes need `admin: true` (403 otherwise).
   * @default every caller is the user "anonymous", not admin (so the admin routes answer 403)
   */
  authorize?: (request: Request) => Promise<JobsAuth> | JobsAuth;
  /**
   * Largest request body, in bytes, of every route (413 past it).
   * @default maxFileSizeBytes * 1.4 + 64 KiB (room for JSON escaping and base64), and for the
   * batch route maxProjectSizeBytes * 1.4 + 64 KiB (see `maxBatchBodyBytes`)
   */
  maxBodyBytes?: number;
  /** Largest body of `POST /{id}/files/batch`, in bytes. @default `maxBodyBytes` if given, else maxProjectSizeBytes * 1.4 + 64 KiB */
  maxBatchBodyBytes?: number;
  /**
   * Called with every unexpected error (answered 500 with a generic message).
   * @default none
   */
  onError?: (error: unknown, request: Request) => void;
  /** Where unexpected errors are logged (pino-compatible). @default silent */
  logger?: Pick<Logger, "error">;
  /**
   * Interval, in ms, of the `: keep-alive` comment on `GET /{id}/events`, which keeps proxies
   * from closing an idle stream.
   * @default 15000
   */
  heartbeatMs?: number;
}

/** The handler {@link createJobsHandler} returns; `prefix` tells adapters which URLs it serves. */
export type JobsHandler = ((request: Request) => Promise<Response>) & {
  /** The normalised prefix (`""` for the root), e.g. `/api/v1/jobs`. */
  readonly prefix: string;
};

type Method = "GET" | "HEAD" | "POST" | "DELETE";
type Action = (context: Context) => Promise<Response>;
type Routes = Partial<Record<Method, Action>>;

interface Context {
  request: Request;
  url: URL;
  auth: JobsAuth;
  /** Decoded, validated job id (job routes). */
  jobId: string;
  /** Decoded file path (file routes), not yet validated. */
  filePath: string;
}

interface Matched {
  routes: Routes;
  admin?: boolean;
  /** The raw (still percent-encoded) job id segment, for job routes. */
  rawJobId?: string;
  /** The raw file path after `/files/`, for file routes. */
  rawFilePath?: string;
}

function invalidOption(message: string): JobStorageError {
  return new JobStorageError("INVALID_INPUT", `createJobsHandler(): ${message}`);
}

function normalizePrefix(prefix: unknown): string {
  if (prefix === undefined) return "/api/v1/jobs";
  if (typeof prefix !== "string" || !prefix.startsWith("/") || /[?#\s]/.test(prefix)) {
    throw invalidOption(`option "prefix" must be a path starting with "/" (such as "/api/v1/jobs"), got ${JSON.stringify(prefix)}`);
  }
  // Compare like with like: the request's pathname is percent-encoded.
  const encoded = new URL(prefix, "http://localhost").pathname;
  return encoded.replace(/\/+$/, "");
}

function positiveIntegerOption(name: string, value: unknown, unit = "bytes"): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value <= 0) {
    throw invalidOption(`option "${name}" must be a positive integer number of ${unit}, got ${inspect(value)}`);
  }
  return value;
}

function functionOption(name: string, value: unknown): void {
  if (value !== undefined && typeof value !== "function") {
    throw invalidOption(`option "${name}" must be a function, got ${typeof value}`);
  }
}

const defaultAuthorize = (): JobsAuth => ({ userId: "anonymous", admin: false });

/** Decodes a URL component exactly once. */
function decodeOnce(raw: string, code: "INVALID_JOB_ID" | "INVALID_PATH"): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw new JobStorageError(code, `Malformed percent-encoding in the URL: ${JSON.stringify(raw.slice(0, 80))}`);
  }
}

/**
 * Where `GET /{id}/events` resumes: the `Last-Event-ID` header (what a
 * reconnecting EventSource sends, so it wins), else `?since=`, else 0.
 */
function parseSince(request: Request, url: URL): number {
  const header = request.headers.get("last-event-id");
  const [name, raw] = header !== null && header.trim() !== "" ? ["Last-Event-ID", header.trim()] : ["since", url.searchParams.get("since")];
  if (raw === null || raw === "") return 0;
  if (!/^\d{1,15}$/.test(raw)) {
    throw new JobStorageError("INVALID_INPUT", `${name} must be a non-negative integer (a change's seq), got ${JSON.stringify(raw.slice(0, 40))}`);
  }
  return Number(raw);
}

/** 304 with the tag the client already holds. */
function notModified(etag: string): Response {
  return new Response(null, { status: 304, headers: { etag, "cache-control": REVALIDATE } });
}

function parseBoolean(url: URL, name: string): boolean {
  const raw = url.searchParams.get(name);
  if (raw === null || raw === "") return false;
  const value = raw.trim().toLowerCase();
  if (["true", "1", "yes", "on"].includes(value)) return true;
  if (["false", "0", "no", "off"].includes(value)) return false;
  throw new JobStorageError("INVALID_INPUT", `Query parameter ${name} must be true or false, got ${JSON.stringify(raw.slice(0, 40))}`);
}

/** zod issue paths of the core schema, in the body's snake_case names. */
const SNAKE_NAMES: Record<string, string> = { projectName: "project_name", jobId: "job_id", ttlHours: "ttl_hours" };

function toSnakeMessage(message: string): string {
  return message.replace(/\b(projectName|jobId|ttlHours)\b/g, (name) => SNAKE_NAMES[name] ?? name);
}

function parseBody<T>(schema: ZodType<T>, value: unknown, what: string): T {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new JobStorageError("INVALID_INPUT", `Invalid ${what}: ${formatIssues(parsed.error)}`);
  return parsed.data;
}

function toFileInput(file: FileBody): FileInput {
  const content = file.encoding === "base64" ? Buffer.from(file.content, "base64") : file.content;
  const input: FileInput = { path: file.path, content };
  if (file.executable != null) input.executable = file.executable;
  return input;
}

/**
 * A web-standard handler serving the REST API of the original design guide,
 * with its snake_case JSON, under `prefix`:
 *
 * | route | answers |
 * |---|---|
 * | `POST /create` `{ project_name, job_id?, ttl_hours? }` | the job |
 * | `GET /{id}` | the job |
 * | `DELETE /{id}?keep_zip=` | `{ success, message }` |
 * | `POST /{id}/plan` (`GET` reads it) | `{ success }` |
 * | `POST /{id}/files` `{ path, content, executable?, encoding? }` | `{ success, path, size }` |
 * | `POST /{id}/files/batch` `[...]` or `{ files: [...] }` | `{ total, success, failed, results }` |
 * | `POST /{id}/files/move` `{ from, to, overwrite? }` | `{ from, path, size, sha256, overwritten }` |
 * | `GET /{id}/files?prefix=` | `{ job_id, files, count }` (each file with its `sha256`) |
 * | `GET /{id}/files/{path}` (`DELETE` removes it) | `{ path, content }`, with a strong `ETag` (304 on `If-None-Match`) |
 * | `HEAD /{id}/files/{path}` | the file's `Content-Length`, `ETag`, `Last-Modified`, no body |
 * | `GET /{id}/progress` | `{ planned_files, written_files, percent, missing, unplanned, tasks }` |
 * | `GET /{id}/events` | Server-Sent Events, one per change, `id:` = `seq` (`Last-Event-ID` / `?since=` resume) |
 * | `POST /{id}/complete` | `{ success, status, message, download_url }` |
 * | `GET /{id}/download` | the ZIP, with a strong `ETag` (304), `Range` (206, 416) and `If-Range` |
 * | `POST /{id}/fail?error_message=` | `{ success, status }` |
 * | `POST /{id}/extend` `{ ttl_hours }` | the job |
 * | `GET /` | `{ jobs, count }` (the caller's jobs) |
 * | `GET /admin/stats`, `POST /admin/cleanup` | admin only |
 *
 * Errors answer `{ error: { code, message } }`: 400 for `INVALID_*` and bad
 * JSON, 401 when `authorize` throws, 403 for an admin route without admin,
 * 404 for a missing job, file or route (and for another user's job), 405,
 * 409 for `JOB_EXISTS`, `FILE_EXISTS`, `INVALID_STATE`, `ZIP_NOT_READY`, 410 for
 * `JOB_EXPIRED`, 413 for `FILE_TOO_LARGE`, `PROJECT_TOO_LARGE` and oversized
 * bodies, 415 for a non-JSON body, 416 for `RANGE_NOT_SATISFIABLE`, 507 for `STORAGE_FULL`, and 500 with a
 * generic message for anything else (passed to `onError`). A file path in a
 * URL is percent-decoded exactly once before validation.
 *
 * @throws {JobStorageError} `INVALID_INPUT` for a bad option, naming it.
 * @example
 * ```ts
 * const handler = createJobsHandler(storage, {
 *   authorize: async (request) => {
 *     const user = await verifyToken(request.headers.get("authorization"));
 *     return { userId: user.id, admin: user.isAdmin };
 *   },
 * });
 * const response = await handler(new Request("http://localhost/api/v1/jobs/create", {
 *   method: "POST",
 *   body: JSON.stringify({ project_name: "my-react-app" }),
 * }));
 * ```
 */
export function createJobsHandler(storage: JobsStorage, options: JobsHandlerOptions = {}): JobsHandler {
  if (typeof storage !== "object" || storage === null || typeof storage.createJob !== "function") {
    throw invalidOption("expected a JobStorageManager as the first argument");
  }
  if (typeof options !== "object" || options === null) throw invalidOption("options must be an object");
  const prefix = normalizePrefix(options.prefix);
  functionOption("authorize", options.authorize);
  functionOption("onError", options.onError);
  if (options.logger !== undefined && typeof options.logger?.error !== "function") {
    throw invalidOption('option "logger" must have an error() method');
  }
  const authorize = options.authorize ?? defaultAuthorize;
  const maxBody = positiveIntegerOption("maxBodyBytes", options.maxBodyBytes);
  const maxBatchBody = positiveIntegerOption("maxBatchBodyBytes", options.maxBatchBodyBytes);
  const heartbeatMs = positiveIntegerOption("heartbeatMs", options.heartbeatMs, "milliseconds") ?? DEFAULT_HEARTBEAT_MS;
  const maxFileSize = typeof storage.maxFileSizeBytes === "number" ? storage.maxFileSizeBytes : DEFAULT_MAX_FILE_SIZE_BYTES;
  const maxProjectSize =
    typeof storage.maxProjectSizeBytes === "number" ? storage.maxProjectSizeBytes : DEFAULT_MAX_PROJECT_SIZE_BYTES;
  const fileBodyLimit = maxBody ?? Math.ceil(maxFileSize * 1.4) + 64 * KIB;
  const batchBodyLimit = maxBatchBody ?? maxBody ?? Math.ceil(maxProjectSize * 1.4) + 64 * KIB;
  const smallBodyLimit = Math.min(SMALL_BODY_BYTES, fileBodyLimit);

  const downloadPath = (jobId: string): string => `${prefix}/${encodeURIComponent(jobId)}/download`;
  const jobJson = (job: JobMetadata) => serializeJob(job, downloadPath(job.jobId));

  // ------------------------------------------------------------- actions

  const createJob: Action = async ({ request, auth }) => {
    const body = parseBody(CreateJobBodySchema, await readJsonBody(request, smallBodyLimit), "job");
    const input: CreateJobInput = { projectName: body.project_name, userId: auth.userId };
    if (body.job_id != null) {
      validateJobId(body.job_id);
      if (RESERVED_JOB_IDS.has(body.job_id)) {
        throw new JobStorageError("INVALID_JOB_ID", `Job id "${body.job_id}" is reserved by the REST API`, {
          jobId: body.job_id,
        });
      }
      input.jobId = body.job_id;
    }
    if (body.ttl_hours != null) input.ttlHours = body.ttl_hours;
    const parsed = CreateJobInputSchema.safeParse(input);
    if (!parsed.success) {
      throw new JobStorageError("INVALID_INPUT", `Invalid job: ${toSnakeMessage(formatIssues(parsed.error))}`);
    }
    return jsonResponse(jobJson(await storage.createJob(parsed.data)));
  };

  const listJobs: Action = async ({ url, auth }) => {
    const status = url.searchParams.get("status");
    if (status !== null && !JOB_STATUSES.includes(status as JobStatus)) {
      throw new JobStorageError("INVALID_INPUT", `Query parameter status must be one of ${JOB_STATUSES.join(", ")}`);
    }
    const userId = auth.admin === true ? (url.searchParams.get("user_id") ?? undefined) : auth.userId;
    const jobs = await storage.listJobs({
      ...(userId === undefined ? {} : { userId }),
      ...(status === null ? {} : { status: status as JobStatus }),
    });
    return jsonResponse({ jobs: jobs.map(jobJson), count: jobs.length });
  };

  const getJob: Action = async ({ jobId }) => {
    const job = await storage.getJob(jobId);
    if (!job) throw jobNotFound(jobId);
    return jsonResponse(jobJson(job));
  };

  const deleteJob: Action = async ({ url, jobId }) => {
    const keepZip = parseBoolean(url, "keep_zip");
    if (!(await storage.deleteJob(jobId, { keepZip }))) throw jobNotFound(jobId);
    return jsonResponse({ success: true, message: `Job ${jobId} deleted` });
  };

  const writePlan: Action = async ({ request, jobId }) => {
    const plan = parseBody(PlanBodySchema, await readJsonBody(request, fileBodyLimit), "plan");
    await storage.writePlan(jobId, plan);
    return jsonResponse({ success: true });
  };

  const readPlan: Action = async ({ jobId }) => {
    const plan = await storage.readPlan(jobId);
    return jsonResponse({ job_id: jobId, plan: plan ?? null });
  };

  const writeFile: Action = async ({ request, jobId }) => {
    const body = parseBody(FileBodySchema, await readJsonBody(request, fileBodyLimit), "file");
    const file = parseBody(FileInputSchema, toFileInput(body), "file");
    const result = await storage.writeFile(jobId, file.path, file.content, { executable: file.executable === true });
    return jsonResponse(serializeWriteFile(result));
  };

  const writeFiles: Action = async ({ request, jobId }) => {
    const body = parseBody(FileBatchBodySchema, await readJsonBody(request, batchBodyLimit), "batch");
    const entries = Array.isArray(body) ? body : body.files;
    const files = parseBody(FileBatchSchema, entries.map(toFileInput), "batch");
    return jsonResponse(serializeWriteFiles(await storage.writeFiles(jobId, files)));
  };

  const listFiles: Action = async ({ url, jobId }) => {
    const prefix = url.searchParams.get("prefix");
    const files = await storage.listFiles(jobId, prefix === null || prefix === "" ? {} : { prefix });
    return jsonResponse({ job_id: jobId, files: files.map(serializeFile), count: files.length });
  };

  /** The file's index entry, or `FILE_NOT_FOUND`. */
  async function statOrThrow(jobId: string, path: string) {
    const stat = await storage.statFile(jobId, path);
    if (!stat) throw new JobStorageError("FILE_NOT_FOUND", `File "${path}" not found in job "${jobId}"`, { jobId, path });
    return stat;
  }

  const readFile: Action = async ({ request, url, jobId, filePath }) => {
    const encoding = url.searchParams.get("encoding") ?? "utf8";
    if (encoding !== "utf8" && encoding !== "utf-8" && encoding !== "base64") {
      throw new JobStorageError("INVALID_INPUT", "Query parameter encoding must be utf8 or base64");
    }
    const path = validateJobPath(filePath);
    const stat = await statOrThrow(jobId, path);
    if (ifNoneMatchHits(request, strongEtag(stat.sha256))) return notModified(strongEtag(stat.sha256));
    const content = await storage.readFile(jobId, path);
    // The tag of the bytes actually sent, so a rewrite between the stat and the read cannot mislabel them.
    const etag = strongEtag(createHash("sha256").update(content).digest("hex"));
    const headers = { etag, "last-modified": stat.modified.toUTCString(), "cache-control": REVALIDATE };
    if (encoding === "base64") return jsonResponse({ path, content: content.toString("base64"), encoding }, 200, headers);
    return jsonResponse({ path, content: content.toString("utf8") }, 200, headers);
  };

  /** `HEAD /{id}/files/{path}`: the file itself (its size, not that of GET's JSON), from the index. */
  const headFile: Action = async ({ request, jobId, filePath }) => {
    const stat = await statOrThrow(jobId, validateJobPath(filePath));
    const etag = strongEtag(stat.sha256);
    if (ifNoneMatchHits(request, etag)) return notModified(etag);
    return new Response(null, {
      status: 200,
      headers: {
        "content-type": "application/octet-stream",
        "content-length": String(stat.size),
        etag,
        "last-modified": stat.modified.toUTCString(),
        "cache-control": REVALIDATE,
        "x-content-type-options": "nosniff",
      },
    });
  };

  const moveFile: Action = async ({ request, jobId }) => {
    const body = parseBody(MoveFileBodySchema, await readJsonBody(request, smallBodyLimit), "move");
    const result = await storage.moveFile(jobId, body.from, body.to, { overwrite: body.overwrite === true });
    return jsonResponse(serializeMove(result));
  };

  const progress: Action = async ({ jobId }) => jsonResponse(serializeProgress(await storage.getProgress(jobId)));

  const events: Action = async ({ request, url, jobId }) => {
    const since = parseSince(request, url);
    return sseResponse((signal) => storage.watch(jobId, { since, signal }), { signal: request.signal, heartbeatMs });
  };

  const deleteFile: Action = async ({ jobId, filePath }) => {
    const path = validateJobPath(filePath);
    if (!(await storage.deleteFile(jobId, path))) {
      throw new JobStorageError("FILE_NOT_FOUND", `File "${path}" not found in job "${jobId}"`, { jobId, path });
    }
    return jsonResponse({ success: true, path });
  };

  const completeJob: Action = async ({ jobId }) => {
    const job = await storage.completeJob(jobId);
    const { download_url } = jobJson(job);
    return jsonResponse({ success: true, job_id: jobId, status: job.status, message: "ZIP ready", download_url });
  };

  const failJob: Action = async ({ request, url, jobId }) => {
    let message = url.searchParams.get("error_message");
    if (message === null) {
      const body = await readJsonBody(request, smallBodyLimit, true);
      if (body !== undefined) message = parseBody(FailJobBodySchema, body, "body").error_message;
    }
    if (message === null) throw new JobStorageError("INVALID_INPUT", "Query parameter error_message is required");
    const job = await storage.failJob(jobId, message);
    return jsonResponse({ success: true, job_id: jobId, status: job.status });
  };

  const extendJob: Action = async ({ request, jobId }) => {
    const body = parseBody(ExtendJobBodySchema, await readJsonBody(request, smallBodyLimit), "body");
    return jsonResponse(jobJson(await storage.extendJob(jobId, body.ttl_hours)));
  };

  /**
   * The ZIP, whole (200), one byte range of it (206, `Range`, honoured when `If-Range` is absent or
   * still matches), 304 for a matching `If-None-Match`, or 416. Always streamed from disk.
   */
  const download: Action = async ({ request, jobId }) => {
    const zip = await storage.openZip(jobId);
    let stream: Readable | undefined;
    let status = 200;
    let length = zip.size;
    const headers: Record<string, string> = {
      "content-type": "application/zip",
      "content-disposition": contentDisposition(zip.fileName),
      "accept-ranges": "bytes",
      "cache-control": REVALIDATE,
      "x-content-type-options": "nosniff",
    };
    try {
      // Read after openZip, which may have just built the ZIP and so set its hash.
      const sha256 = (await storage.getJob(jobId))?.zipSha256;
      const etag = sha256 === undefined ? undefined : strongEtag(sha256);
      if (etag !== undefined) headers.etag = etag;
      if (etag !== undefined && ifNoneMatchHits(request, etag)) {
        zip.stream.destroy();
        return new Response(null, { status: 304, headers: { etag, "accept-ranges": "bytes", "cache-control": REVALIDATE } });
      }
      const range = decideRange(request, zip.size, etag);
      if (range.kind === "unsatisfiable") {
        zip.stream.destroy();
        return errorResponse("RANGE_NOT_SATISFIABLE", `The ZIP has ${zip.size} bytes; the requested range is outside it`, {
          "content-range": `bytes */${zip.size}`,
          "accept-ranges": "bytes",
        });
      }
      if (range.kind === "partial") {
        // From the file openZip opened, positioned at the range, so nothing before it is read.
        if (zip.readRange !== undefined) stream = zip.readRange(range.start, range.end);
        else {
          zip.stream.destroy();
          stream = (await fs.open(zip.path, "r")).createReadStream({ start: range.start, end: range.end });
        }
        status = 206;
        length = range.end - range.start + 1;
        headers["content-range"] = `bytes ${range.start}-${range.end}/${zip.size}`;
      } else stream = zip.stream;
    } catch (error) {
      zip.stream.destroy(); // the stream made so far, or one made to close the file
      throw error;
    }
    headers["content-length"] = String(length);
    const body = stream;
    // A client that goes away stops the read (the body is cancelled too, but not every runtime does it).
    const onAbort = (): void => void body.destroy();
    if (request.signal.aborted) onAbort();
    else request.signal.addEventListener("abort", onAbort, { once: true });
    body.once("close", () => request.signal.removeEventListener("abort", onAbort));
    return new Response(toWebStream(body), { status, headers });
  };

  const stats: Action = async () => jsonResponse(serializeStats(await storage.getStats()));

  const cleanup: Action = async ({ url, request }) => {
    const dryRun = parseBoolean(url, "dry_run");
    const result = await storage.cleanupExpired({ dryRun, signal: request.signal });
    return jsonResponse(serializeCleanup(result, dryRun));
  };

  // ------------------------------------------------------------- routing

  /** The routes of a path below the prefix (`rest` is "" or starts with "/"), or undefined. */
  function match(rest: string): Matched | undefined {
    if (rest === "" || rest === "/") return { routes: { GET: listJobs } };
    const parts = rest.slice(1).split("/");
    const [first, second] = parts;
    if (parts.length === 1 && first === "create") return { routes: { POST: createJob } };
    if (first === "admin") {
      if (parts.length === 2 && second === "stats") return { routes: { GET: stats }, admin: true };
      if (parts.length === 2 && second === "cleanup") return { routes: { POST: cleanup }, admin: true };
      return undefined;
    }
    const rawJobId = first!;
    if (parts.length === 1) return { routes: { GET: getJob, DELETE: deleteJob }, rawJobId };
    if (parts.length === 2) {
      const routes: Record<string, Routes> = {
        plan: { GET: readPlan, POST: writePlan },
        files: { GET: listFiles, POST: writeFile },
        progress: { GET: progress },
        events: { GET: events },
        complete: { POST: completeJob },
        download: { GET: download },
        fail: { POST: failJob },
        extend: { POST: extendJob },
      };
      return Object.hasOwn(routes, second!) ? { routes: routes[second!]!, rawJobId } : undefined;
    }
    if (second !== "files") return undefined;
    const rawFilePath = parts.slice(2).join("/");
    const fileRoutes: Routes = { GET: readFile, HEAD: headFile, DELETE: deleteFile };
    // `batch` and `move` are POST routes; a file of that name is still read and deleted here.
    if (rawFilePath === "batch") return { routes: { POST: writeFiles, ...fileRoutes }, rawJobId, rawFilePath };
    if (rawFilePath === "move") return { routes: { POST: moveFile, ...fileRoutes }, rawJobId, rawFilePath };
    return { routes: fileRoutes, rawJobId, rawFilePath };
  }

  function jobNotFound(jobId: string): JobStorageError {
    return new JobStorageError("JOB_NOT_FOUND", `Job "${jobId}" not found`, { jobId });
  }

  async function authenticate(request: Request): Promise<JobsAuth> {
    let auth: unknown;
    try {
      auth = await authorize(request);
    } catch {
      throw new HttpError("UNAUTHORIZED", "Authentication required");
    }
    const candidate = auth as Partial<JobsAuth> | null | undefined;
    if (typeof candidate?.userId !== "string" || candidate.userId === "") {
      throw new HttpError("UNAUTHORIZED", "Authentication required");
    }
    return { userId: candidate.userId, admin: candidate.admin === true };
  }

  /** The job's id, once it is known to exist and to be visible to the caller. */
  async function visibleJobId(rawJobId: string, auth: JobsAuth): Promise<string> {
    const jobId = decodeOnce(rawJobId, "INVALID_JOB_ID");
    validateJobId(jobId);
    const job = await storage.getJob(jobId);
    // Another user's job is answered exactly like a missing one.
    if (!job || (job.userId !== auth.userId && auth.admin !== true)) throw jobNotFound(jobId);
    return jobId;
  }

  function report(error: unknown, request: Request): void {
    try {
      options.onError?.(error, request);
      options.logger?.error({ err: error, method: request.method }, "ephemeral-jobs: request failed");
    } catch {
      // A failing error reporter must not turn into an unhandled rejection.
    }
  }

  function toErrorResponse(error: unknown, request: Request): Response {
    if (error instanceof HttpError) return errorResponse(error.code, error.message, error.headers);
    if (isJobStorageError(error) && statusForErrorCode(error.code) !== 500) {
      return errorResponse(error.code, scrub(error.message));
    }
    report(error, request);
    return errorResponse("INTERNAL_ERROR", "Internal server error");
  }

  /** Defence in depth: a message never names the base path. */
  function scrub(message: string): string {
    const base = (storage as { basePath?: unknown }).basePath;
    return typeof base === "string" && base.length > 1 ? message.split(base).join("<storage>") : message;
  }

  async function handle(request: Request): Promise<Response> {
    const url = new URL(request.url);
    const pathname = url.pathname;
    if (pathname !== prefix && !pathname.startsWith(`${prefix}/`)) {
      throw new HttpError("ROUTE_NOT_FOUND", "No such route");
    }
    const matched = match(pathname.slice(prefix.length));
    if (!matched) throw new HttpError("ROUTE_NOT_FOUND", "No such route");
    const method = request.method.toUpperCase();
    const action = matched.routes[method as Method] ?? (method === "HEAD" ? matched.routes.GET : undefined);
    if (!action) {
      const allow = Object.keys(matched.routes).filter((name) => name !== "HEAD");
      if (allow.includes("GET")) allow.push("HEAD");
      throw new HttpError("METHOD_NOT_ALLOWED", `Method ${method} is not allowed here`, { allow: allow.join(", ") });
    }
    const auth = await authenticate(request);
    if (matched.admin === true && auth.admin !== true) throw new HttpError("FORBIDDEN", "This route needs an admin");
    const jobId = matched.rawJobId === undefined ? "" : await visibleJobId(matched.rawJobId, auth);
    const filePath = matched.rawFilePath === undefined ? "" : decodeOnce(matched.rawFilePath, "INVALID_PATH");
    return action({ request, url, auth, jobId, filePath });
  }

  /** HEAD answers GET's status and headers (an error's too) with no body. */
  async function withoutBody(response: Response): Promise<Response> {
    await response.body?.cancel().catch(() => {});
    return new Response(null, { status: response.status, headers: response.headers });
  }

  const handler = async (request: Request): Promise<Response> => {
    let response: Response;
    try {
      response = await handle(request);
    } catch (error) {
      response = toErrorResponse(error, request);
    }
    return request.method.toUpperCase() === "HEAD" ? withoutBody(response) : response;
  };
  return Object.assign(handler, { prefix });
}
