/**
 * The inter-process lock of one job, on proper-lockfile: an atomic `mkdir`
 * whose mtime the holder refreshes, so a lock left by a killed process goes
 * stale and is taken over. Chosen over a home-made lock because stale-lock
 * takeover, refresh timers and their edge cases are exactly what it gets right.
 */
import { setTimeout as sleep } from "node:timers/promises";
import lockfile from "proper-lockfile";
import { errnoCode } from "../errors.js";
import type { Logger } from "../logger.js";

export interface LockOptions {
  /** A lock not refreshed for this long is taken to be a dead holder's. */
  staleMs: number;
  logger: Logger | undefined;
}

// A ZIP build can hold a job's lock for minutes; a live holder is waited for
// as long as it keeps its lock fresh.
const MAX_WAIT_MS = 30 * 60_000;

/**
 * Takes the lock at `lockDir`, waiting while another holder keeps it.
 * Resolves to `release`. Any error but "held by someone else" (a missing
 * job directory: `ENOENT`) is thrown at once.
 */
export async function acquireLock(lockDir: string, options: LockOptions): Promise<() => Promise<void>> {
  const started = Date.now();
  for (let attempt = 0; ; attempt += 1) {
    try {
      // The lock directory is named explicitly, so the locked "file" itself need not exist.
      return await lockfile.lock(lockDir, {
        lockfilePath: lockDir,
        realpath: false,
        stale: options.staleMs,
        update: Math.max(1000, Math.floor(options.staleMs / 2)),
        retries: 0,
        onCompromised: (error) => {
          options.logger?.warn({ err: error, lockDir }, "job lock compromised");
        },
      });
    } catch (error) {
      if (errnoCode(error) !== "ELOCKED" || Date.now() - started > MAX_WAIT_MS) throw error;
      // Short, jittered waits: the usual holder is a write that lasts a millisecond or two.
      await sleep(Math.min(1 + attempt * 2, 50) * (0.5 + Math.random()));
    }
  }
}
