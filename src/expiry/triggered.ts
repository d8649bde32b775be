/**
 * What the interval and cron schedulers share: one run at a time, errors to
 * `onError`, `start()` once, and a `stop()` that waits for the run in progress.
 * Each scheduler only says how it triggers runs.
 * @internal
 * @module
 */
import { JobStorageError } from "../errors.js";
import type { ExpiryScheduler } from "./scheduler.js";

/**
 * Describes a received value for an error message: `0`, `"60s"`, `NaN`, `an object`.
 * @internal
 */
export function describeValue(value: unknown): string {
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
 * An {@link ExpiryScheduler} whose runs are triggered by `arm`: called once at
 * `start()` with a `run` that never overlaps and never rejects, it returns the
 * function that stops the trigger.
 * @internal
 */
export function triggeredScheduler(
  name: string,
  onError: ((error: unknown) => void) | undefined,
  arm: (run: () => Promise<void>) => () => void,
): ExpiryScheduler {
  let state: "new" | "started" | "stopped" = "new";
  let disarm: (() => void) | undefined;
  let runner: SerialRunner | undefined;
  let stopping: Promise<void> | undefined;
  return {
    start(task) {
      checkStart(name, task, state);
      state = "started";
      const serial = createSerialRunner(task, onError);
      runner = serial;
      disarm = arm(async () => {
        if (state === "started") await serial.run();
      });
    },
    stop() {
      stopping ??= (async () => {
        state = "stopped";
        disarm?.();
        disarm = undefined;
        await runner?.idle();
      })();
      return stopping;
    },
  };
}
