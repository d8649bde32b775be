/**
 * An expiry scheduler driven by a cron expression, built on croner.
 */
import { Cron } from "croner";
import { JobStorageError } from "../errors.js";
import { checkOnError, triggeredScheduler } from "./triggered.js";
import type { ExpiryScheduler } from "./scheduler.js";

/** Options of {@link cronScheduler}. Every one is optional. */
export interface CronSchedulerOptions {
  /**
   * IANA time zone the expression is read in (`"Europe/Berlin"`).
   * @default the process's local time zone
   */
  timezone?: string;
  /**
   * Called with whatever a run rejected with (or threw). Later runs happen
   * regardless. An exception thrown by `onError` itself is ignored.
   * @default none: the error is dropped (the task should log its own failures)
   */
  onError?: (error: unknown) => void;
}

function fail(message: string, cause?: unknown): JobStorageError {
  return new JobStorageError("INVALID_INPUT", `cronScheduler(): ${message}`, cause === undefined ? {} : { cause });
}

function checkTimezone(timezone: unknown): string | undefined {
  if (timezone === undefined) return undefined;
  if (typeof timezone !== "string" || timezone.trim() === "") {
    throw fail(`option "timezone" must be an IANA time zone name such as "Europe/Berlin", got ${typeof timezone === "string" ? JSON.stringify(timezone) : typeof timezone}`);
  }
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: timezone });
  } catch (error) {
    throw fail(`option "timezone" must be an IANA time zone name such as "Europe/Berlin", got ${JSON.stringify(timezone)}`, error);
  }
  return timezone;
}

/**
 * An {@link ExpiryScheduler} that runs the task on a cron schedule, using
 * [croner](https://croner.56k.guru). Five fields (`minute hour day month
 * weekday`), six (seconds first) or seven (year last), and nicknames such as
 * `@hourly`, are accepted.
 *
 * - The expression (and time zone) is checked here, at creation, not at `start()`.
 * - Never two runs at once: a due time that comes while a run is still going
 *   is skipped.
 * - The timer is `unref()`'d, so it never keeps the process alive.
 * - A run that rejects does not stop later runs; the error goes to `onError`.
 * - `stop()` cancels the schedule and resolves once the run in progress (if
 *   any) has finished; no run starts after it. Calling it again is harmless.
 * - `start()` may be called once; a second call throws.
 *
 * @param expression - A cron expression such as `"0 * * * *"` (every hour, on the hour).
 * @param options - See {@link CronSchedulerOptions}.
 * @default timezone: local time
 * @throws {JobStorageError} `INVALID_INPUT` when the expression is not a valid
 *   cron expression (a one-off date is refused too), when it never matches
 *   (`"0 0 30 2 *"`), or when an option is malformed; `start()` throws
 *   `INVALID_STATE` when called twice or after `stop()`.
 * @example
 * ```ts
 * // Clean up at 03:15 every night, Berlin time.
 * const storage = await JobStorageManager.open({
 *   scheduler: cronScheduler("15 3 * * *", { timezone: "Europe/Berlin" }),
 * });
 * ```
 */
export function cronScheduler(expression: string, options: CronSchedulerOptions = {}): ExpiryScheduler {
  const name = "cronScheduler()";
  if (typeof expression !== "string" || expression.trim() === "") {
    throw fail(`expected a cron expression such as "0 * * * *", got ${typeof expression === "string" ? JSON.stringify(expression) : typeof expression}`);
  }
  if (typeof options !== "object" || options === null) {
    throw fail(`options must be an object, got ${options === null ? "null" : typeof options}`);
  }
  // croner reads a string with a ':' as a one-off ISO 8601 date; a cleanup that runs once is a mistake.
  if (expression.includes(":")) {
    throw fail(`expected a cron expression such as "0 * * * *", got ${JSON.stringify(expression)} (a date, not a recurring schedule)`);
  }
  const timezone = checkTimezone(options.timezone);
  const { onError } = options;
  checkOnError(name, onError);
  const cronOptions = { timezone, unref: true, protect: true } as const;

  // Parse now, so that a bad expression fails where it is written, not inside open().
  let probe: Cron | undefined;
  try {
    probe = new Cron(expression, { ...cronOptions, paused: true });
    if (probe.nextRun() === null) {
      throw fail(`cron expression ${JSON.stringify(expression)} never matches a future time`);
    }
  } catch (error) {
    if (error instanceof JobStorageError) throw error;
    const reason = error instanceof Error ? error.message : String(error);
    throw fail(`invalid cron expression ${JSON.stringify(expression)}: ${reason}`, error);
  } finally {
    probe?.stop();
  }

  // croner awaits the callback, so `protect` skips due times while a run is
  // busy; the shared runner guarantees the same on its own and lets stop()
  // await the run. The callback never rejects, so croner never sees an
  // unhandled rejection.
  return triggeredScheduler(name, onError, (run) => {
    const job = new Cron(expression, cronOptions, run);
    return () => job.stop();
  });
}
