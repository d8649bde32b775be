/**
 * Keeps the deflate workers of a process warm between archive builds:
 * starting them costs tens of milliseconds (more from the TypeScript
 * sources), which a host that completes job after job would pay every time.
 * Builds borrow the pool and give it back; once nobody has used it for
 * {@link WORKERS_IDLE_MS} it is terminated. Workers and the idle timer are
 * unref'd: a warm pool never keeps a process alive.
 * @internal
 * @module
 */
import { SmallFileWorkers } from "./worker-pool.js";

/**
 * Idle time after which warm workers are terminated: long enough for a host
 * completing a job every few seconds to never restart them; an idle worker
 * costs memory (about 10 MiB), no CPU.
 * @internal
 */
export const WORKERS_IDLE_MS = 30_000;

/** A pool lent to one build; `release()` once, when the build is over. @internal */
export interface WorkersLease {
  workers: SmallFileWorkers;
  release(): void;
}

interface Warm {
  workers: SmallFileWorkers;
  borrowers: number;
  idleTimer: NodeJS.Timeout | undefined;
}

/**
 * Lends warm pools, one per worker count.
 * @internal
 */
export class WarmWorkers {
  readonly #idleMs: number;
  readonly #pools = new Map<number, Warm>();

  constructor(options: { idleMs?: number } = {}) {
    this.#idleMs = options.idleMs ?? WORKERS_IDLE_MS;
  }

  /**
   * A pool of `count` workers: the warm one, or a new one when there is none
   * or it failed.
   * @throws {Error} when a worker cannot be created (see {@link SmallFileWorkers}).
   */
  borrow(count: number): WorkersLease {
    let warm = this.#pools.get(count);
    if (warm !== undefined && !warm.workers.usable) {
      this.#retireInBackground(count, warm);
      warm = undefined;
    }
    if (warm === undefined) {
      warm = { workers: new SmallFileWorkers(count), borrowers: 0, idleTimer: undefined };
      this.#pools.set(count, warm);
    }
    const lent = warm;
    clearTimeout(lent.idleTimer);
    lent.idleTimer = undefined;
    lent.borrowers += 1;
    let released = false;
    return {
      workers: lent.workers,
      release: () => {
        if (released) return;
        released = true;
        lent.borrowers -= 1;
        if (!lent.workers.usable) this.#retireInBackground(count, lent);
        else if (lent.borrowers === 0) lent.idleTimer = setTimeout(() => this.#retireInBackground(count, lent), this.#idleMs).unref();
      },
    };
  }

  /** A lease on the warm pool of `count` workers, or `undefined` when none is warm (nothing is started). */
  borrowIfWarm(count: number): WorkersLease | undefined {
    return this.#pools.get(count)?.workers.usable === true ? this.borrow(count) : undefined;
  }

  /** Terminates every warm pool (pending requests are rejected). */
  async close(): Promise<void> {
    await Promise.all([...this.#pools].map(([count, warm]) => this.#retire(count, warm)));
  }

  #retire(count: number, warm: Warm): Promise<void> {
    clearTimeout(warm.idleTimer);
    if (this.#pools.get(count) === warm) this.#pools.delete(count);
    return warm.workers.close();
  }

  /**
   * Retires a pool nobody waits on (failed, or idle). Safe to leave unawaited:
   * `close()` only calls `worker.terminate()`, whose promise fulfils once the
   * worker has exited, even one that already had, and never rejects.
   */
  #retireInBackground(count: number, warm: Warm): void {
    void this.#retire(count, warm);
  }
}

/** The pools every archive build of this process borrows from. @internal */
export const warmWorkers = new WarmWorkers();
