/**
 * The default expiry scheduler: a plain, unref'd `setInterval` that never
 * runs two cleanups at once.
 */
import { z } from "zod";
import { JobStorageError } from "../errors.js";
import type { ExpiryScheduler } from "./scheduler.js";

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

/** Describes a received value for an error message: `0`, `"60s"`, `NaN`, `an object`. */
function describeValue(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value);
  if (typeof value === "number" || typeof value === "boolean" || typeof value === "bigint") return String(value);
  if (value === null || value === undefined) return String(value);
  if (Array.isArray(value)) return "an array";
  return `a ${typeof value}`;
}

/**
 * Checks that `onError` is a function or absent.
 * @throws {JobStorageError} `INVALID_INPUT`, naming the scheduler and the option.
 * @internal
 */
export function checkOnError(scheduler: string, onError: unknown): void {
  if (onError !== undefined && typeof onError !== "function") {
    throw new JobStorageError(
      "INVALID_INPUT",
      `${scheduler}: option "onError" must be a function, got ${describeValue(onError)}`,
    );
  }
}

/**
 * Runs a task one call at a time: a call made while a run is in progress is
 * skipped, a rejection goes to `onError`, and `idle()` waits for the run in
 * progress. Shared by the interval and cron schedulers.
 * @internal
 */
export interface SerialRunner {
  /**
   * Starts a run unless one is in progress. Returns the run in progress (the
   * new one, or the one that made this call a no-op); it never rejects.
   */
  run(): Promise<void>;
  /** Whether a run is in progress. */
  readonly busy: boolean;
  /** Resolves once no run is in progress. */
  idle(): Promise<void>;
}

/** @internal */
export function createSerialRunner(
  task: () => Promise<unknown>,
  onError: ((error: unknown) => void) | undefined,
): SerialRunner {
  let inFlight: Promise<void> | undefined;
  const report = (error: unknown): void => {
    if (onError === undefined) return;
    try {
      onError(error);
    } catch {
      // A failing error reporter must not break the schedule or make stop() reject.
    }
  };
  return {
    run() {
      if (inFlight !== undefined) return inFlight;
      const current = (async () => {
        try {
          await task();
        } catch (error) {
          report(error);
        }
      })();
      inFlight = current;
      void current.finally(() => {
        if (inFlight === current) inFlight = undefined;
      });
      return current;
    },
    get busy() {
      return inFlight !== undefined;
    },
    async idle() {
      while (inFlight !== undefined) await inFlight;
    },
  };
}

/**
 * Checks the argument of `start()` and that `start()` is called once.
 * @throws {JobStorageError} `INVALID_INPUT` for a non-function task, `INVALID_STATE` on a second start.
 * @internal
 */
export function checkStart(scheduler: string, task: unknown, state: "new" | "started" | "stopped"): void {
  if (typeof task !== "function") {
    throw new JobStorageError("INVALID_INPUT", `${scheduler}: start() expects a task function, got ${describeValue(task)}`);
  }
  if (state === "started") {
    throw new JobStorageError(
      "INVALID_STATE",
      `${scheduler}: start() was already called; a scheduler drives one task, create another scheduler for another task`,
    );
  }
  if (state === "stopped") {
    throw new JobStorageError("INVALID_STATE", `${scheduler}: start() after stop(); a stopped scheduler cannot be restarted`);
  }
}

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

  let state: "new" | "started" | "stopped" = "new";
  let timer: NodeJS.Timeout | undefined;
  let runner: SerialRunner | undefined;
  let stopping: Promise<void> | undefined;

  return {
    start(task) {
      checkStart(name, task, state);
      state = "started";
      const serial = createSerialRunner(task, onError);
      runner = serial;
      timer = setInterval(() => void serial.run(), intervalMs);
      timer.unref();
      if (runOnStart) void serial.run();
    },
    stop() {
      stopping ??= (async () => {
        state = "stopped";
        if (timer !== undefined) clearInterval(timer);
        timer = undefined;
        await runner?.idle();
      })();
      return stopping;
    },
  };
}
