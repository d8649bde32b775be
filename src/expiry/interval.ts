/**
 * The default expiry scheduler: a plain, unref'd `setInterval` that never
 * runs two cleanups at once.
 */
import { z } from "zod";
import { JobStorageError } from "../errors.js";
import type { ExpiryScheduler } from "./scheduler.js";
import { checkOnError, describeValue, triggeredScheduler } from "./triggered.js";

/** The default period of {@link intervalScheduler}: one hour, in milliseconds. */
export const DEFAULT_INTERVAL_MS = 3_600_000;

/**
 * The longest period a Node.js timer accepts (2^31 - 1 ms, about 24.8 days).
 * Node silently turns a longer one into 1 ms, so it is rejected instead.
 */
export const MAX_INTERVAL_MS = 2_147_483_647;

/** Options of {@link intervalScheduler}. Every one is optional. */
export interface IntervalSchedulerOptions {
  /**
   * Milliseconds between two runs, an integer from 1 to {@link MAX_INTERVAL_MS}.
   * @default 3_600_000 (one hour)
   */
  intervalMs?: number;
  /**
   * Run the task once at `start()` as well, instead of waiting a whole
   * interval for the first run.
   * @default false
   */
  runOnStart?: boolean;
  /**
   * Called with whatever a run rejected with (or threw). Later runs happen
   * regardless. An exception thrown by `onError` itself is ignored.
   * @default none: the error is dropped (the task should log its own failures)
   */
  onError?: (error: unknown) => void;
}

const IntervalOptionsSchema = z.object({
  intervalMs: z.number().int().min(1).max(MAX_INTERVAL_MS).default(DEFAULT_INTERVAL_MS),
  runOnStart: z.boolean().default(false),
});

const EXPECTED: Record<string, string> = {
  intervalMs: `an integer number of milliseconds from 1 to ${MAX_INTERVAL_MS}`,
  runOnStart: "a boolean",
};

/**
 * An {@link ExpiryScheduler} that runs the task every `intervalMs`
 * milliseconds (hourly by default).
 *
 * - Never two runs at once: a tick that comes while a run is still going is
 *   skipped, not queued.
 * - The timer is `unref()`'d, so it never keeps the process alive.
 * - A run that rejects does not stop later runs; the error goes to `onError`.
 * - `stop()` clears the timer and resolves once the run in progress (if any)
 *   has finished; no run starts after `stop()`. Calling it again is harmless.
 * - `start()` may be called once; a second call throws.
 *
 * This is the scheduler `JobStorageManager.open()` uses when none is given.
 * Run one per disk: processes sharing a base path can all run it, but one is enough.
 *
 * @param options - See {@link IntervalSchedulerOptions}.
 * @default intervalMs 3_600_000, runOnStart false
 * @throws {JobStorageError} `INVALID_INPUT` when an option is malformed (the
 *   message names the option, what was expected and what came); `start()`
 *   throws `INVALID_STATE` when called twice or after `stop()`.
 * @example
 * ```ts
 * const storage = await JobStorageManager.open({
 *   scheduler: intervalScheduler({
 *     intervalMs: 15 * 60_000,
 *     runOnStart: true,
 *     onError: (error) => logger.error({ err: error }, "job cleanup failed"),
 *   }),
 * });
 * ```
 */
export function intervalScheduler(options: IntervalSchedulerOptions = {}): ExpiryScheduler {
  const name = "intervalScheduler()";
  if (typeof options !== "object" || options === null) {
    throw new JobStorageError("INVALID_INPUT", `${name}: options must be an object, got ${describeValue(options)}`);
  }
  const parsed = IntervalOptionsSchema.safeParse(options);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const key = String(issue?.path[0] ?? "options");
    const received = (options as Record<string, unknown>)[key];
    throw new JobStorageError(
      "INVALID_INPUT",
      `${name}: option "${key}" must be ${EXPECTED[key] ?? "valid"}, got ${describeValue(received)}`,
      { cause: parsed.error },
    );
  }
  const { intervalMs, runOnStart } = parsed.data;
  const { onError } = options;
  checkOnError(name, onError);

  return triggeredScheduler(name, onError, (run) => {
    const timer = setInterval(() => void run(), intervalMs);
    timer.unref();
    if (runOnStart) void run();
    return () => clearInterval(timer);
  });
}
