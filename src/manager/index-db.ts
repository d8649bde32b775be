/**
 * The job index: one SQLite database per base path (better-sqlite3, WAL),
 * holding the job records, a per-file index, the intents of changes in
 * flight, the change feed and the kept ZIPs. Every SQL statement and the
 * schema live in this module, so another driver (`node:sqlite`, once Node 22
 * is the floor) can replace better-sqlite3 here alone.
 *
 * Every change is one short `BEGIN IMMEDIATE` transaction: SQLite's write lock
 * is the mutual exclusion between processes, and the kernel releases it when
 * a process dies, so nothing is ever left locked.
 *
 * The index is derived state: each job directory keeps its status record,
 * and a missing or corrupted database is rebuilt from the job directories.
 */
import { createRequire } from "node:module";
import fs from "node:fs";
import path from "node:path";
import type BetterSqlite3 from "better-sqlite3";
import { JobStorageError, errnoCode, isDiskFullError } from "../errors.js";
import type { JobRecord } from "./record.js";

/** The schema version this module reads and writes (`PRAGMA user_version`). */
export const SCHEMA_VERSION = 2;

const SCHEMA = `
CREATE TABLE jobs (
  job_id TEXT PRIMARY KEY,
  user_id TEXT NOT NULL,
  project_name TEXT NOT NULL,
  status TEXT NOT NULL,
  created_at TEXT NOT NULL,
  expires_at TEXT NOT NULL,
  expires_ms INTEGER NOT NULL,
  files_count INTEGER NOT NULL DEFAULT 0,
  total_size INTEGER NOT NULL DEFAULT 0,
  plan_size INTEGER,
  record_size INTEGER NOT NULL DEFAULT 0,
  zip_ready INTEGER NOT NULL DEFAULT 0,
  zip_size INTEGER,
  zip_sha256 TEXT,
  zip_builder TEXT,
  download_url TEXT,
  s3_url TEXT,
  error_message TEXT
);
CREATE INDEX jobs_by_expiry ON jobs (expires_ms);
CREATE INDEX jobs_by_created ON jobs (created_at DESC, job_id);
CREATE TABLE files (
  job_id TEXT NOT NULL,
  path TEXT NOT NULL,
  size INTEGER NOT NULL,
  mode INTEGER NOT NULL,
  mtime_ms REAL NOT NULL,
  sha256 TEXT NOT NULL,
  PRIMARY KEY (job_id, path)
) WITHOUT ROWID;
CREATE TABLE intents (
  id INTEGER PRIMARY KEY,
  owner TEXT NOT NULL,
  job_id TEXT NOT NULL,
  kind TEXT NOT NULL,
  path TEXT,
  from_path TEXT,
  tmp TEXT,
  held INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX intents_by_path ON intents (job_id, path);
CREATE INDEX intents_by_from_path ON intents (job_id, from_path);
CREATE TABLE changes (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  job_id TEXT NOT NULL,
  type TEXT NOT NULL,
  path TEXT,
  from_path TEXT,
  size INTEGER,
  sha256 TEXT,
  status TEXT,
  at TEXT NOT NULL
);
CREATE INDEX changes_by_job ON changes (job_id, seq);
CREATE TABLE kept_zips (
  job_id TEXT PRIMARY KEY,
  size INTEGER NOT NULL,
  kept_ms INTEGER NOT NULL
);
`;

/**
 * The SQL that upgrades an index from the version it is keyed by to the
 * next, in place at `open()`. Version 2 gives every intent the bytes it holds
 * against the project limit, and indexes intents by path.
 */
const MIGRATIONS: Record<number, string> = {
  1: `
ALTER TABLE intents ADD COLUMN held INTEGER NOT NULL DEFAULT 0;
CREATE INDEX intents_by_path ON intents (job_id, path);
CREATE INDEX intents_by_from_path ON intents (job_id, from_path);
`,
};

/** One file as the index knows it. */
export interface FileRow {
  path: string;
  size: number;
  mode: number;
  mtimeMs: number;
  sha256: string;
}

/** What an intent is about; see the manager's write, plan, status and delete paths. */
export type IntentKind = "file" | "delete" | "move" | "plan" | "status" | "create" | "remove-job";

/** A change in flight: recorded before the disk is touched, removed once the outcome is recorded. */
export interface Intent {
  id: number;
  owner: string;
  jobId: string;
  kind: IntentKind;
  path: string | undefined;
  fromPath: string | undefined;
  tmp: string | undefined;
  /**
   * Bytes this change holds against the project limit until its outcome is
   * recorded: what it freed (a smaller overwrite, a delete, a replaced move
   * target), which the disk still holds if the change does not land.
   */
  held: number;
}

/** The change types of the feed (`watch`). */
export type ChangeType = "file:written" | "file:deleted" | "file:moved" | "plan:written" | "job:status";

/** One entry of the change feed. */
export interface ChangeRow {
  seq: number;
  jobId: string;
  type: ChangeType;
  path?: string;
  from?: string;
  size?: number;
  sha256?: string;
  status?: string;
  at: string;
}

/** Totals of `getStats()`, straight from SQL. */
export interface IndexTotals {
  jobCount: number;
  fileCount: number;
  bytes: number;
  byStatus: { generating: number; complete: number; failed: number; expired: number };
  keptZipBytes: number;
}

interface JobRow {
  job_id: string;
  user_id: string;
  project_name: string;
  status: JobRecord["status"];
  created_at: string;
  expires_at: string;
  files_count: number;
  total_size: number;
  plan_size: number | null;
  record_size: number;
  zip_ready: number;
  zip_size: number | null;
  zip_sha256: string | null;
  zip_builder: string | null;
  download_url: string | null;
  s3_url: string | null;
  error_message: string | null;
}

/** What a write checks (state, expiry) and counts against (the job's bytes). */
export type WriteState = Pick<JobRecord, "jobId" | "status" | "expiresAt" | "totalSizeBytes">;

/** A job record plus who, if anyone, is building its ZIP. */
export interface IndexedJob extends JobRecord {
  zipBuilder: string | undefined;
}

function toRecord(row: JobRow): IndexedJob {
  const record: IndexedJob = {
    jobId: row.job_id,
    userId: row.user_id,
    projectName: row.project_name,
    status: row.status,
    createdAt: row.created_at,
    expiresAt: row.expires_at,
    filesCount: row.files_count,
    totalSizeBytes: row.total_size,
    recordSizeBytes: row.record_size,
    zipReady: row.zip_ready === 1,
    zipBuilder: row.zip_builder ?? undefined,
  };
  if (row.plan_size !== null) record.planSizeBytes = row.plan_size;
  if (row.zip_size !== null) record.zipSizeBytes = row.zip_size;
  if (row.zip_sha256 !== null) record.zipSha256 = row.zip_sha256;
  if (row.download_url !== null) record.downloadUrl = row.download_url;
  if (row.s3_url !== null) record.s3Url = row.s3_url;
  if (row.error_message !== null) record.errorMessage = row.error_message;
  return record;
}

function jobParams(record: JobRecord & { zipBuilder?: string | undefined }): Record<string, unknown> {
  return {
    job_id: record.jobId,
    user_id: record.userId,
    project_name: record.projectName,
    status: record.status,
    created_at: record.createdAt,
    expires_at: record.expiresAt,
    expires_ms: Date.parse(record.expiresAt),
    files_count: record.filesCount,
    total_size: record.totalSizeBytes,
    plan_size: record.planSizeBytes ?? null,
    record_size: record.recordSizeBytes,
    zip_ready: record.zipReady ? 1 : 0,
    zip_size: record.zipSizeBytes ?? null,
    zip_sha256: record.zipSha256 ?? null,
    zip_builder: record.zipBuilder ?? null,
    download_url: record.downloadUrl ?? null,
    s3_url: record.s3Url ?? null,
    error_message: record.errorMessage ?? null,
  };
}

/** The WAL is truncated back to this size after a checkpoint, when it grew past it. */
const WAL_LIMIT_BYTES = 1024 * 1024;
/** Room kept for the index on the disk, in the WAL and in the database's free pages. */
const RESERVE_BYTES = 256 * 1024;

/**
 * Keeps room for the index on a disk that fills up: a transaction that writes
 * and then frees RESERVE_BYTES leaves that many allocated WAL bytes (reused
 * from the start after each checkpoint, never truncated below the limit) and
 * as many free pages in the database file. Commits then go into blocks the
 * file system has already given, so a full disk still takes status changes
 * and the deletions that free space. Done when the WAL is new (SQLite removes
 * it when the last connection closes). On a disk already full it is skipped.
 */
function reserveRoom(db: BetterSqlite3.Database, file: string): void {
  let walBytes = 0;
  try {
    walBytes = fs.statSync(`${file}-wal`).size;
  } catch (error) {
    if (errnoCode(error) !== "ENOENT") throw error;
  }
  if (walBytes >= RESERVE_BYTES) return;
  try {
    db.transaction(() => {
      db.exec("CREATE TABLE IF NOT EXISTS reserve (b BLOB)");
      db.prepare("INSERT INTO reserve VALUES (zeroblob(?))").run(RESERVE_BYTES);
      db.exec("DELETE FROM reserve");
    }).immediate();
  } catch (error) {
    if (!isDiskFullError(error)) throw error;
  }
}

/** SQLite's own codes for a database file that is not (or no longer) one. */
function isCorruptionError(error: unknown): boolean {
  const code = errnoCode(error);
  return code === "SQLITE_CORRUPT" || code === "SQLITE_NOTADB" || code?.startsWith("SQLITE_CORRUPT_") === true;
}

/** Turns SQLite's and the kernel's "disk full" into `STORAGE_FULL`; other errors pass. */
export function mapIndexError(error: unknown, details: { jobId?: string; path?: string } = {}): unknown {
  if (isDiskFullError(error)) {
    return new JobStorageError("STORAGE_FULL", "No space left on the storage device", { ...details, cause: error });
  }
  return error;
}

type DatabaseConstructor = typeof BetterSqlite3;

let driver: DatabaseConstructor | undefined;

/** Loads better-sqlite3 once, with one clear error when its native module cannot load. */
function loadDriver(): DatabaseConstructor {
  if (driver) return driver;
  try {
    driver = createRequire(import.meta.url)("better-sqlite3") as DatabaseConstructor;
    return driver;
  } catch (error) {
    const reason = error instanceof Error ? error.message.split("\n")[0] : String(error);
    throw new JobStorageError(
      "INVALID_STATE",
      `ephemeral-jobs needs the native module better-sqlite3 (version 12) for its index, and it could not be loaded: ${reason}. ` +
        "Reinstall it for this Node.js version (npm rebuild better-sqlite3); with pnpm, allow its build script (pnpm approve-builds).",
      { cause: error },
    );
  }
}

/** Options of {@link JobIndex.open}. */
export interface JobIndexOptions {
  /** `synchronous=FULL` (an fsync per commit) instead of `NORMAL`. */
  fsync: boolean;
  /** How long a statement waits for another process's transaction, in ms. */
  busyTimeoutMs?: number;
}

/** How {@link JobIndex.open} found the database. */
export type IndexOpenState = "existing" | "created" | "replaced-corrupt";

/**
 * The job index of one base path. Every method is synchronous (better-sqlite3):
 * each runs in microseconds, and a transaction never spans an `await`.
 */
export class JobIndex {
  readonly file: string;
  /** How the database was found when opened: a new or replaced one needs a rebuild. */
  readonly openState: IndexOpenState;
  readonly #db: BetterSqlite3.Database;
  readonly #statements = new Map<string, BetterSqlite3.Statement>();
  /** Changes this connection added: `data_version` only moves for other connections' commits. */
  localChanges = 0;
  /** Write transactions this connection ran (committed or not): with `data_version`, whether anything may have changed. */
  localCommits = 0;

  private constructor(file: string, db: BetterSqlite3.Database, openState: IndexOpenState) {
    this.file = file;
    this.#db = db;
    this.openState = openState;
  }

  /**
   * Opens (or creates) the index at `file`. A database file that SQLite finds
   * corrupt is moved aside (`<file>.corrupt-<time>`) and replaced by an empty one,
   * and `openState` says so: the caller rebuilds it from the job directories.
   */
  static open(file: string, options: JobIndexOptions): JobIndex {
    const Database = loadDriver();
    fs.mkdirSync(path.dirname(file), { recursive: true });
    try {
      const { db, created } = JobIndex.#connect(Database, file, options);
      return new JobIndex(file, db, created ? "created" : "existing");
    } catch (error) {
      if (!isCorruptionError(error)) throw mapIndexError(error);
      const aside = `${file}.corrupt-${Date.now()}`;
      fs.renameSync(file, aside);
      for (const suffix of ["-wal", "-shm"]) fs.rmSync(`${file}${suffix}`, { force: true });
      const { db } = JobIndex.#connect(Database, file, options);
      return new JobIndex(file, db, "replaced-corrupt");
    }
  }

  static #connect(
    Database: DatabaseConstructor,
    file: string,
    options: JobIndexOptions,
  ): { db: BetterSqlite3.Database; created: boolean } {
    const db = new Database(file, { timeout: options.busyTimeoutMs ?? 10_000 });
    try {
      db.pragma("journal_mode = WAL");
      // Without `fsync`, nothing is synced (as for the files themselves): a killed process
      // loses nothing, and the index is derived state that a power loss at worst makes
      // stale. With it, every commit is synced.
      db.pragma(`synchronous = ${options.fsync ? "FULL" : "OFF"}`);
      // A small WAL: checkpoint every 64 pages (256 KiB); one that grew past 1 MiB (a reader
      // held a checkpoint back) is truncated back to that limit.
      db.pragma("wal_autocheckpoint = 64");
      db.pragma(`journal_size_limit = ${WAL_LIMIT_BYTES}`);
      db.pragma("temp_store = MEMORY");
      let created = false;
      db.transaction(() => {
        const version = db.pragma("user_version", { simple: true }) as number;
        if (version === 0) {
          db.exec(SCHEMA);
          db.pragma(`user_version = ${SCHEMA_VERSION}`);
          created = true;
        } else if (version < SCHEMA_VERSION && MIGRATIONS[version] !== undefined) {
          for (let from = version; from < SCHEMA_VERSION; from += 1) db.exec(MIGRATIONS[from]!);
          db.pragma(`user_version = ${SCHEMA_VERSION}`);
        } else if (version !== SCHEMA_VERSION) {
          throw new JobStorageError(
            "INVALID_STATE",
            `The index at ${file} has schema version ${version}; this version of ephemeral-jobs reads version ${SCHEMA_VERSION}`,
          );
        }
      }).immediate();
      // Touch every table once: a torn file fails here, not in the middle of a write.
      db.prepare("SELECT count(*) FROM jobs").get();
      db.prepare("SELECT count(*) FROM files").get();
      reserveRoom(db, file);
      return { db, created };
    } catch (error) {
      db.close();
      throw error;
    }
  }

  #statement(sql: string): BetterSqlite3.Statement {
    let statement = this.#statements.get(sql);
    if (!statement) {
      statement = this.#db.prepare(sql);
      this.#statements.set(sql, statement);
    }
    return statement;
  }

  /** Runs `fn` as one `BEGIN IMMEDIATE` transaction (rolled back if it throws). */
  transaction<T>(fn: () => T): T {
    this.localCommits += 1;
    return this.#db.transaction(fn).immediate();
  }

  /** Runs `fn`'s reads as one read transaction: one snapshot, its locks taken once. */
  read<T>(fn: () => T): T {
    return this.#db.transaction(fn).deferred();
  }

  /** Changes whenever another connection commits: a cheap, disk-free "did anything change?". */
  dataVersion(): number {
    return this.#db.pragma("data_version", { simple: true }) as number;
  }

  /** Closes the connection (the last one to close also checkpoints and removes the WAL). */
  close(): void {
    if (this.#db.open) this.#db.close();
  }

  // -------------------------------------------------------------- jobs

  insertJob(record: JobRecord): void {
    this.#statement(
      `INSERT INTO jobs (job_id, user_id, project_name, status, created_at, expires_at, expires_ms, files_count,
         total_size, plan_size, record_size, zip_ready, zip_size, zip_sha256, zip_builder, download_url, s3_url, error_message)
       VALUES (@job_id, @user_id, @project_name, @status, @created_at, @expires_at, @expires_ms, @files_count,
         @total_size, @plan_size, @record_size, @zip_ready, @zip_size, @zip_sha256, @zip_builder, @download_url, @s3_url, @error_message)`,
    ).run(jobParams(record));
  }

  /** Replaces every field of the job's row. */
  updateJob(record: JobRecord & { zipBuilder?: string | undefined }): void {
    this.#statement(
      `UPDATE jobs SET user_id = @user_id, project_name = @project_name, status = @status, created_at = @created_at,
         expires_at = @expires_at, expires_ms = @expires_ms, files_count = @files_count, total_size = @total_size,
         plan_size = @plan_size, record_size = @record_size, zip_ready = @zip_ready, zip_size = @zip_size,
         zip_sha256 = @zip_sha256, zip_builder = @zip_builder, download_url = @download_url, s3_url = @s3_url, error_message = @error_message
       WHERE job_id = @job_id`,
    ).run(jobParams(record));
  }

  getJob(jobId: string): IndexedJob | undefined {
    const row = this.#statement("SELECT * FROM jobs WHERE job_id = ?").get(jobId) as JobRow | undefined;
    return row && toRecord(row);
  }

  /** The few fields every write reads: lighter than {@link getJob}, which builds the whole record. */
  getWriteState(jobId: string): WriteState | undefined {
    return this.#statement("SELECT job_id AS jobId, status, expires_at AS expiresAt, total_size AS totalSizeBytes FROM jobs WHERE job_id = ?").get(
      jobId,
    ) as WriteState | undefined;
  }

  hasJob(jobId: string): boolean {
    return this.#statement("SELECT 1 FROM jobs WHERE job_id = ?").get(jobId) !== undefined;
  }

  /** Newest first; `status` `expired` is derived from `nowMs`. */
  listJobs(filter: { userId?: string; status?: string; nowMs: number }): IndexedJob[] {
    const where: string[] = [];
    const params: Record<string, unknown> = { now: filter.nowMs };
    if (filter.userId !== undefined) {
      where.push("user_id = @user");
      params.user = filter.userId;
    }
    if (filter.status === "expired") where.push("expires_ms <= @now");
    else if (filter.status !== undefined) {
      where.push("status = @status AND expires_ms > @now");
      params.status = filter.status;
    }
    const sql = `SELECT * FROM jobs ${where.length > 0 ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY created_at DESC, job_id`;
    return (this.#statement(sql).all(params) as JobRow[]).map(toRecord);
  }

  jobIds(): Set<string> {
    return new Set((this.#statement("SELECT job_id FROM jobs").pluck().all() as string[]));
  }

  expiredJobs(nowMs: number): IndexedJob[] {
    return (this.#statement("SELECT * FROM jobs WHERE expires_ms <= ? ORDER BY job_id").all(nowMs) as JobRow[]).map(toRecord);
  }

  /** Removes a job's rows: the job, its files, intents and changes. */
  deleteJob(jobId: string): boolean {
    this.#statement("DELETE FROM files WHERE job_id = ?").run(jobId);
    this.#statement("DELETE FROM intents WHERE job_id = ?").run(jobId);
    this.#statement("DELETE FROM changes WHERE job_id = ?").run(jobId);
    return this.#statement("DELETE FROM jobs WHERE job_id = ?").run(jobId).changes > 0;
  }

  totals(nowMs: number): IndexTotals {
    const row = this.#statement(
      `SELECT count(*) AS jobs, coalesce(sum(files_count), 0) AS files,
         coalesce(sum(total_size + record_size + coalesce(plan_size, 0) + CASE WHEN zip_ready = 1 THEN coalesce(zip_size, 0) ELSE 0 END), 0) AS bytes,
         coalesce(sum(expires_ms <= @now), 0) AS expired,
         coalesce(sum(expires_ms > @now AND status = 'generating'), 0) AS generating,
         coalesce(sum(expires_ms > @now AND status = 'complete'), 0) AS complete,
         coalesce(sum(expires_ms > @now AND status = 'failed'), 0) AS failed
       FROM jobs`,
    ).get({ now: nowMs }) as Record<string, number>;
    const kept = this.#statement("SELECT coalesce(sum(size), 0) FROM kept_zips").pluck().get() as number;
    return {
      jobCount: row.jobs!,
      fileCount: row.files!,
      bytes: row.bytes!,
      byStatus: { generating: row.generating!, complete: row.complete!, failed: row.failed!, expired: row.expired! },
      keptZipBytes: kept,
    };
  }

  // ------------------------------------------------------------- files

  getFile(jobId: string, filePath: string): FileRow | undefined {
    return this.#statement("SELECT path, size, mode, mtime_ms AS mtimeMs, sha256 FROM files WHERE job_id = ? AND path = ?").get(
      jobId,
      filePath,
    ) as FileRow | undefined;
  }

  /** The job's files, optionally only those below `prefix/` (or equal to it). */
  listFiles(jobId: string, prefix?: string): FileRow[] {
    if (prefix === undefined) {
      return this.#statement("SELECT path, size, mode, mtime_ms AS mtimeMs, sha256 FROM files WHERE job_id = ?").all(jobId) as FileRow[];
    }
    // A range on the primary key: prefix/ .. prefix0 ('0' follows '/').
    return this.#statement(
      "SELECT path, size, mode, mtime_ms AS mtimeMs, sha256 FROM files WHERE job_id = ? AND ((path >= ? AND path < ?) OR path = ?)",
    ).all(jobId, `${prefix}/`, `${prefix}0`, prefix) as FileRow[];
  }

  upsertFile(jobId: string, file: FileRow): void {
    this.#statement(
      `INSERT INTO files (job_id, path, size, mode, mtime_ms, sha256) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (job_id, path) DO UPDATE SET size = excluded.size, mode = excluded.mode,
         mtime_ms = excluded.mtime_ms, sha256 = excluded.sha256`,
    ).run(jobId, file.path, file.size, file.mode, file.mtimeMs, file.sha256);
  }

  deleteFile(jobId: string, filePath: string): boolean {
    return this.#statement("DELETE FROM files WHERE job_id = ? AND path = ?").run(jobId, filePath).changes > 0;
  }

  /** Replaces every file row of a job (a rebuild or a recount from the disk). */
  replaceFiles(jobId: string, files: FileRow[]): void {
    this.#statement("DELETE FROM files WHERE job_id = ?").run(jobId);
    for (const file of files) this.upsertFile(jobId, file);
  }

  /** Sets the job's counts from its file rows. */
  recount(jobId: string): void {
    this.#statement(
      `UPDATE jobs SET files_count = (SELECT count(*) FROM files WHERE job_id = @job),
         total_size = (SELECT coalesce(sum(size), 0) FROM files WHERE job_id = @job) WHERE job_id = @job`,
    ).run({ job: jobId });
  }

  /** Moves the job's counts by a difference (a write or delete within a transaction). */
  adjustCounts(jobId: string, filesDelta: number, bytesDelta: number): void {
    this.#statement("UPDATE jobs SET files_count = files_count + ?, total_size = total_size + ? WHERE job_id = ?").run(
      filesDelta,
      bytesDelta,
      jobId,
    );
  }

  setPlanSize(jobId: string, size: number | undefined): void {
    this.#statement("UPDATE jobs SET plan_size = ? WHERE job_id = ?").run(size ?? null, jobId);
  }

  // ----------------------------------------------------------- intents

  addIntent(intent: Omit<Intent, "id" | "held"> & { held?: number }): number {
    const result = this.#statement("INSERT INTO intents (owner, job_id, kind, path, from_path, tmp, held) VALUES (?, ?, ?, ?, ?, ?, ?)").run(
      intent.owner,
      intent.jobId,
      intent.kind,
      intent.path ?? null,
      intent.fromPath ?? null,
      intent.tmp ?? null,
      intent.held ?? 0,
    );
    return Number(result.lastInsertRowid);
  }

  removeIntent(id: number): void {
    this.#statement("DELETE FROM intents WHERE id = ?").run(id);
  }

  /**
   * The owner of a change in flight at \`filePath\` (written, deleted, or moved
   * to or from there), if any. Changes to one path are made one at a time, so
   * the disk ends up holding what the index accounted for last.
   */
  pathBusy(jobId: string, filePath: string): string | undefined {
    return this.#statement(
      `SELECT owner FROM intents WHERE job_id = @job AND path = @path
       UNION ALL SELECT owner FROM intents WHERE job_id = @job AND from_path = @path LIMIT 1`,
    )
      .pluck()
      .get({ job: jobId, path: filePath }) as string | undefined;
  }

  /** Bytes the job's changes in flight hold against the project limit (see {@link Intent.held}). */
  heldBytes(jobId: string): number {
    return this.#statement("SELECT coalesce(sum(held), 0) FROM intents WHERE job_id = ?").pluck().get(jobId) as number;
  }

  /** Intents of other owners: those of this job, or all when `jobId` is undefined. */
  foreignIntents(owner: string, jobId?: string): Intent[] {
    const rows = (
      jobId === undefined
        ? this.#statement("SELECT * FROM intents WHERE owner != ?").all(owner)
        : this.#statement("SELECT * FROM intents WHERE owner != ? AND job_id = ?").all(owner, jobId)
    ) as {
      id: number;
      owner: string;
      job_id: string;
      kind: IntentKind;
      path: string | null;
      from_path: string | null;
      tmp: string | null;
      held: number;
    }[];
    return rows.map((row) => ({
      id: row.id,
      owner: row.owner,
      jobId: row.job_id,
      kind: row.kind,
      path: row.path ?? undefined,
      fromPath: row.from_path ?? undefined,
      tmp: row.tmp ?? undefined,
      held: row.held,
    }));
  }

  // ------------------------------------------------------------ owners

  /** Every owner something in the index still names: intents in flight and ZIP builds. */
  referencedOwners(): string[] {
    return this.#statement("SELECT owner FROM intents UNION SELECT zip_builder FROM jobs WHERE zip_builder IS NOT NULL").pluck().all() as string[];
  }

  /** Frees a dead owner's ZIP builds, so that the next `completeJob` or `openZip` builds again. */
  releaseZipBuilds(owner: string): void {
    this.#statement("UPDATE jobs SET zip_builder = NULL WHERE zip_builder = ?").run(owner);
  }

  // ----------------------------------------------------------- changes

  addChange(change: Omit<ChangeRow, "seq">): number {
    this.localChanges += 1;
    const result = this.#statement(
      "INSERT INTO changes (job_id, type, path, from_path, size, sha256, status, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    ).run(
      change.jobId,
      change.type,
      change.path ?? null,
      change.from ?? null,
      change.size ?? null,
      change.sha256 ?? null,
      change.status ?? null,
      change.at,
    );
    return Number(result.lastInsertRowid);
  }

  /** Whether the feed holds the job's terminal status change (`complete` or `failed`) at or before `seq`. */
  hasTerminalChange(jobId: string, seq: number): boolean {
    return (
      this.#statement("SELECT 1 FROM changes WHERE job_id = ? AND seq <= ? AND type = 'job:status' AND status IN ('complete', 'failed') LIMIT 1").get(
        jobId,
        seq,
      ) !== undefined
    );
  }

  changesSince(jobId: string, seq: number, limit = 1000): ChangeRow[] {
    const rows = this.#statement("SELECT * FROM changes WHERE job_id = ? AND seq > ? ORDER BY seq LIMIT ?").all(jobId, seq, limit) as {
      seq: number;
      job_id: string;
      type: ChangeType;
      path: string | null;
      from_path: string | null;
      size: number | null;
      sha256: string | null;
      status: string | null;
      at: string;
    }[];
    return rows.map((row) => {
      const change: ChangeRow = { seq: row.seq, jobId: row.job_id, type: row.type, at: row.at };
      if (row.path !== null) change.path = row.path;
      if (row.from_path !== null) change.from = row.from_path;
      if (row.size !== null) change.size = row.size;
      if (row.sha256 !== null) change.sha256 = row.sha256;
      if (row.status !== null) change.status = row.status;
      return change;
    });
  }

  // --------------------------------------------------------- kept ZIPs

  keepZip(jobId: string, size: number, keptMs: number): void {
    this.#statement("INSERT OR REPLACE INTO kept_zips (job_id, size, kept_ms) VALUES (?, ?, ?)").run(jobId, size, keptMs);
  }

  forgetKeptZip(jobId: string): void {
    this.#statement("DELETE FROM kept_zips WHERE job_id = ?").run(jobId);
  }

  keptZips(): { jobId: string; size: number; keptMs: number }[] {
    return this.#statement("SELECT job_id AS jobId, size, kept_ms AS keptMs FROM kept_zips").all() as {
      jobId: string;
      size: number;
      keptMs: number;
    }[];
  }
}
