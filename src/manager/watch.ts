/**
 * The change feed behind `watch`: the index's `changes` table, read by every
 * process on the base path. One timer per manager, running only while
 * something watches, asks SQLite whether anything was committed (its
 * `data_version`, a read of shared memory, not of the disk, for other
 * processes' commits; a counter for this process's own) and only then reads
 * the new rows. A watcher ends at the job's terminal status, when the job
 * goes, when its signal aborts, or when the manager closes.
 */
import { isExpired } from "./record.js";
import type { StorageContext } from "./context.js";
import type { ChangeRow } from "./index-db.js";
import type { JobStatus } from "../schemas.js";
import type { JobChange } from "./types.js";

/** How often the feed looks for commits while something watches. */
const POLL_MS = 20;
/** Rows read per query. */
const PAGE = 500;

function toChange(row: ChangeRow): JobChange {
  const change: JobChange = { seq: row.seq, type: row.type, at: row.at };
  if (row.path !== undefined) change.path = row.path;
  if (row.from !== undefined) change.from = row.from;
  if (row.size !== undefined) change.size = row.size;
  if (row.sha256 !== undefined) change.sha256 = row.sha256;
  if (row.status !== undefined) change.status = row.status as JobStatus;
  return change;
}

function isTerminal(row: ChangeRow): boolean {
  return row.type === "job:status" && (row.status === "complete" || row.status === "failed");
}

export class ChangeFeed {
  readonly #context: StorageContext;
  readonly #wakers = new Set<() => void>();
  #timer: NodeJS.Timeout | undefined;
  #seen = { version: -1, local: -1 };
  #closed = false;

  constructor(context: StorageContext) {
    this.#context = context;
  }

  /** The changes of `jobId` after `since`, then each new one as it is committed. */
  async *watch(jobId: string, since: number, signal: AbortSignal | undefined): AsyncGenerator<JobChange, void, undefined> {
    const { index } = this.#context;
    let seq = since;
    for (;;) {
      if (this.#closed || signal?.aborted) return;
      const rows = index.changesSince(jobId, seq, PAGE);
      for (const row of rows) {
        seq = row.seq;
        yield toChange(row);
        if (isTerminal(row)) return;
        if (this.#closed || signal?.aborted) return;
      }
      if (rows.length === PAGE) continue;
      const job = index.getJob(jobId);
      // Gone, expired, or terminal before `since`: nothing more will come. (A terminal job
      // whose status change is not in the feed yet is still writing it: wait for it.)
      if (!job || isExpired(job, this.#context.now())) return;
      if ((job.status === "failed" || job.status === "complete") && index.hasTerminalChange(jobId, seq)) return;
      await this.#nextCommit(signal);
    }
  }

  /** Resolves at the next commit to the index (any process), or when `signal` aborts. */
  #nextCommit(signal: AbortSignal | undefined): Promise<void> {
    return new Promise<void>((resolve) => {
      const wake = (): void => {
        this.#wakers.delete(wake);
        signal?.removeEventListener("abort", wake);
        if (this.#wakers.size === 0) this.#stop();
        resolve();
      };
      this.#wakers.add(wake);
      signal?.addEventListener("abort", wake, { once: true });
      this.#start();
    });
  }

  #start(): void {
    if (this.#timer) return;
    this.#seen = { version: this.#context.index.dataVersion(), local: this.#context.index.localChanges };
    // Referenced: a process that waits on a watch stays alive, as with fs.watch; it stops
    // the moment nothing waits, so a process that aborts its watch exits on its own.
    this.#timer = setInterval(() => this.#poll(), POLL_MS);
  }

  #stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #poll(): void {
    let version: number;
    try {
      version = this.#context.index.dataVersion();
    } catch {
      version = -2; // the index is closing: wake everyone, they end
    }
    const local = this.#context.index.localChanges;
    if (version === this.#seen.version && local === this.#seen.local) return;
    this.#seen = { version, local };
    for (const wake of [...this.#wakers]) wake();
  }

  /** Ends every watcher (the manager is closing). */
  close(): void {
    this.#closed = true;
    for (const wake of [...this.#wakers]) wake();
    this.#stop();
  }
}
