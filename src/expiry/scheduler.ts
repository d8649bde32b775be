/**
 * The contract between the manager and whatever decides when expired jobs are
 * cleaned up. Implementations sit beside this file.
 */

/**
 * Runs a cleanup task from time to time. The manager calls `start` once, from
 * `open()`, and `stop` once, from `close()`.
 *
 * Any object of this shape plugs in: a BullMQ repeatable job, a platform cron.
 */
export interface ExpiryScheduler {
  /** Begin calling `task`. A task that rejects must not stop later runs. */
  start(task: () => Promise<unknown>): void;
  /** Stop calling the task and wait for a run in progress to finish. */
  stop(): Promise<void>;
}
