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

/** A feed row as `watch` reports it: the same fields (the index leaves absent ones out), less the job id. */
function toChange(row: ChangeRow): JobChange {
  const { jobId: _jobId, status, ...change } = row;
  return status === undefined ? change : { ...change, status: status as JobStatus };
}

function isTerminal(row: ChangeRow): boolean {
  return row.type === "job:status" && (row.status === "complete" || row.status === "failed");
}

/** Where the index's commit counters stood: another process's commits, and this one's. */
interface Mark {
  version: number;
  local: number;
}

export class ChangeFeed {
  readonly #context: StorageContext;
  readonly #waiters = new Map<() => void, Mark>();
  #timer: NodeJS.Timeout | undefined;
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
      // Taken before the query: a commit that lands after it, even while the consumer is busy
      // between two next() calls, is then seen by the wait below.
      const mark = this.#mark();
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
      await this.#nextCommit(mark, signal);
    }
  }

  #mark(): Mark {
    let version: number;
    try {
      version = this.#context.index.dataVersion();
    } catch {
      version = -2; // the index is closing: every waiter wakes, and ends
    }
    return { version, local: this.#context.index.localChanges };
  }

  /** Resolves once the index has moved past `mark` (any process), or when `signal` aborts. */
  #nextCommit(mark: Mark, signal: AbortSignal | undefined): Promise<void> {
    return new Promise<void>((resolve) => {
      const now = this.#mark();
      if (this.#closed || now.version !== mark.version || now.local !== mark.local) return resolve();
      const wake = (): void => {
        this.#waiters.delete(wake);
        signal?.removeEventListener("abort", wake);
        if (this.#waiters.size === 0) this.#stop();
        resolve();
      };
      this.#waiters.set(wake, mark);
      signal?.addEventListener("abort", wake, { once: true });
      // Referenced: a process that waits on a watch stays alive, as with fs.watch; it stops
      // the moment nothing waits, so a process that aborts its watch exits on its own.
      this.#timer ??= setInterval(() => this.#poll(), POLL_MS);
    });
  }

  #stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #poll(): void {
    const now = this.#mark();
    for (const [wake, mark] of [...this.#waiters]) {
      if (now.version !== mark.version || now.local !== mark.local) wake();
    }
  }

  /** Ends every watcher (the manager is closing). */
  close(): void {
    this.#closed = true;
    for (const wake of [...this.#waiters.keys()]) wake();
    this.#stop();
  }
}
