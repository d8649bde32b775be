import { spawn } from "node:child_process";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { isJobStorageError } from "../src/errors.js";
import {
  DEFAULT_INTERVAL_MS,
  cronScheduler,
  intervalScheduler,
  manualScheduler,
  type ExpiryScheduler,
} from "../src/expiry/index.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const EXPIRY_URL = pathToFileURL(path.join(ROOT, "src/expiry/index.ts")).href;

/** Expects `fn` to throw a JobStorageError of `code` whose message contains every `parts`. */
function expectError(fn: () => unknown, code: string, ...parts: string[]): void {
  let thrown: unknown;
  try {
    fn();
  } catch (error) {
    thrown = error;
  }
  expect(thrown, "expected a throw").toBeDefined();
  expect(isJobStorageError(thrown), String(thrown)).toBe(true);
  expect((thrown as { code: string }).code).toBe(code);
  for (const part of parts) expect((thrown as Error).message).toContain(part);
}

/** A task that takes `durationMs` of (fake) time and records how many runs overlap. */
function slowTask(durationMs: number) {
  const stats = { started: 0, finished: 0, active: 0, maxActive: 0 };
  const task = vi.fn(async () => {
    stats.started += 1;
    stats.active += 1;
    stats.maxActive = Math.max(stats.maxActive, stats.active);
    await new Promise((resolve) => setTimeout(resolve, durationMs));
    stats.active -= 1;
    stats.finished += 1;
  });
  return { task, stats };
}

/** A task whose runs stay in flight until `release()` is called. */
function gatedTask() {
  let release!: () => void;
  let gate = new Promise<void>((resolve) => (release = resolve));
  const state = { started: 0, finished: 0 };
  const task = vi.fn(async () => {
    state.started += 1;
    await gate;
    state.finished += 1;
  });
  return {
    task,
    state,
    release: () => {
      release();
      gate = new Promise<void>((resolve) => (release = resolve));
    },
  };
}

/** Whether a promise has settled, after letting pending microtasks and zero-delay timers run. */
async function isSettled(promise: Promise<unknown>): Promise<boolean> {
  let settled = false;
  void promise.then(
    () => (settled = true),
    () => (settled = true),
  );
  await vi.advanceTimersByTimeAsync(0);
  return settled;
}

describe("intervalScheduler", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("runs the task once per interval, and not at start by default", async () => {
    const task = vi.fn(async () => {});
    const scheduler = intervalScheduler({ intervalMs: 1000 });
    scheduler.start(task);
    expect(task).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(999);
    expect(task).toHaveBeenCalledTimes(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(task).toHaveBeenCalledTimes(1);
    await vi.advanceTimersByTimeAsync(3000);
    expect(task).toHaveBeenCalledTimes(4);
    await scheduler.stop();
  });

  it("is hourly by default", async () => {
    expect(DEFAULT_INTERVAL_MS).toBe(3_600_000);
    const task = vi.fn(async () => {});
    const scheduler = intervalScheduler();
    scheduler.start(task);
    await vi.advanceTimersByTimeAsync(3_600_000 - 1);
    expect(task).toHaveBeenCalledTimes(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(task).toHaveBeenCalledTimes(1);
    await vi.advanceTimersByTimeAsync(2 * 3_600_000);
    expect(task).toHaveBeenCalledTimes(3);
    await scheduler.stop();
  });

  it("runs at start as well with runOnStart", async () => {
    const task = vi.fn(async () => {});
    const scheduler = intervalScheduler({ intervalMs: 1000, runOnStart: true });
    scheduler.start(task);
    expect(task).toHaveBeenCalledTimes(1);
    await vi.advanceTimersByTimeAsync(1000);
    expect(task).toHaveBeenCalledTimes(2);
    await scheduler.stop();
  });

  it("never runs two tasks at once: ticks during a slow run are skipped, not queued", async () => {
    const { task, stats } = slowTask(250);
    const scheduler = intervalScheduler({ intervalMs: 100 });
    scheduler.start(task);
    // Runs start at 100 (until 350), 400 (until 650), 700 (until 950) and 1000;
    // the ticks at 200, 300, 500, 600, 800 and 900 fall inside a run.
    await vi.advanceTimersByTimeAsync(1000);
    expect(stats.maxActive).toBe(1);
    expect(stats.started).toBe(4);
    expect(stats.finished).toBe(3);
    const stopped = scheduler.stop();
    await vi.advanceTimersByTimeAsync(250);
    await stopped;
    expect(stats.finished).toBe(4);
    expect(stats.active).toBe(0);
  });

  it("keeps running after a task rejects or throws, and reports each error to onError", async () => {
    const rejected = new Error("disk on fire");
    const thrown = new Error("sync throw");
    let calls = 0;
    const task = vi.fn((): Promise<unknown> => {
      calls += 1;
      if (calls === 1) return Promise.reject(rejected);
      if (calls === 2) throw thrown;
      return Promise.resolve();
    });
    const onError = vi.fn();
    const scheduler = intervalScheduler({ intervalMs: 1000, onError });
    scheduler.start(task);
    await vi.advanceTimersByTimeAsync(4000);
    expect(task).toHaveBeenCalledTimes(4);
    expect(onError).toHaveBeenCalledTimes(2);
    expect(onError).toHaveBeenNthCalledWith(1, rejected);
    expect(onError).toHaveBeenNthCalledWith(2, thrown);
    await expect(scheduler.stop()).resolves.toBeUndefined();
  });

  it("keeps running when there is no onError, or when onError itself throws", async () => {
    for (const onError of [undefined, () => { throw new Error("reporter broke"); }]) {
      const task = vi.fn(async () => {
        throw new Error("cleanup failed");
      });
      const scheduler = intervalScheduler({ intervalMs: 1000, onError });
      scheduler.start(task);
      await vi.advanceTimersByTimeAsync(3000);
      expect(task).toHaveBeenCalledTimes(3);
      await expect(scheduler.stop()).resolves.toBeUndefined();
    }
  });

  it("stop() waits for the run in progress, clears the timer, and nothing runs after it", async () => {
    const { task, state, release } = gatedTask();
    const scheduler = intervalScheduler({ intervalMs: 1000 });
    scheduler.start(task);
    await vi.advanceTimersByTimeAsync(1000);
    expect(state).toEqual({ started: 1, finished: 0 });

    const stopped = scheduler.stop();
    expect(await isSettled(stopped)).toBe(false);
    expect(vi.getTimerCount()).toBe(0);
    await vi.advanceTimersByTimeAsync(5000);
    expect(await isSettled(stopped)).toBe(false);

    release();
    await stopped;
    expect(state).toEqual({ started: 1, finished: 1 });
    await vi.advanceTimersByTimeAsync(10_000);
    expect(task).toHaveBeenCalledTimes(1);
  });

  it("stop() is idempotent, also before start()", async () => {
    const scheduler = intervalScheduler({ intervalMs: 1000 });
    await scheduler.stop();
    await scheduler.stop();

    const task = vi.fn(async () => {});
    const other = intervalScheduler({ intervalMs: 1000 });
    other.start(task);
    await Promise.all([other.stop(), other.stop()]);
    await other.stop();
    await vi.advanceTimersByTimeAsync(5000);
    expect(task).not.toHaveBeenCalled();
  });

  it("start() twice, or after stop(), throws INVALID_STATE", async () => {
    const scheduler = intervalScheduler({ intervalMs: 1000 });
    scheduler.start(async () => {});
    expectError(() => scheduler.start(async () => {}), "INVALID_STATE", "already");
    await scheduler.stop();
    expectError(() => scheduler.start(async () => {}), "INVALID_STATE", "stop()");

    const stoppedFirst = intervalScheduler();
    await stoppedFirst.stop();
    expectError(() => stoppedFirst.start(async () => {}), "INVALID_STATE");
  });

  it("start() rejects a task that is not a function", () => {
    const scheduler = intervalScheduler();
    expectError(() => scheduler.start("cleanup" as never), "INVALID_INPUT", "task");
  });

  it.each([
    [0, "0"],
    [-1, "-1"],
    [1.5, "1.5"],
    [Number.NaN, "NaN"],
    [Number.POSITIVE_INFINITY, "Infinity"],
    [2 ** 31, String(2 ** 31)],
    ["1000", '"1000"'],
    [null, "null"],
  ])("rejects intervalMs %s, naming the option and the value", (intervalMs, shown) => {
    expectError(
      () => intervalScheduler({ intervalMs: intervalMs as number }),
      "INVALID_INPUT",
      '"intervalMs"',
      `got ${shown}`,
    );
  });

  it("accepts the extreme valid intervals", async () => {
    for (const intervalMs of [1, 2 ** 31 - 1]) {
      const scheduler = intervalScheduler({ intervalMs });
      scheduler.start(async () => {});
      await scheduler.stop();
    }
  });

  it("rejects other malformed options", () => {
    expectError(() => intervalScheduler({ runOnStart: "yes" as never }), "INVALID_INPUT", '"runOnStart"', 'got "yes"');
    expectError(() => intervalScheduler({ onError: "log" as never }), "INVALID_INPUT", '"onError"');
    expectError(() => intervalScheduler(null as never), "INVALID_INPUT", "options");
  });

  it("does not mutate the caller's options", () => {
    const options = Object.freeze({ intervalMs: 5000 });
    intervalScheduler(options);
    expect(options).toEqual({ intervalMs: 5000 });
  });
});

describe("manualScheduler", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("never calls the task and holds no timer", async () => {
    const task = vi.fn(async () => {});
    const scheduler: ExpiryScheduler = manualScheduler();
    scheduler.start(task);
    expect(vi.getTimerCount()).toBe(0);
    await vi.advanceTimersByTimeAsync(7 * 24 * 3_600_000);
    expect(task).not.toHaveBeenCalled();
    await expect(scheduler.stop()).resolves.toBeUndefined();
    await expect(scheduler.stop()).resolves.toBeUndefined();
  });
});

describe("cronScheduler", () => {
  beforeEach(() => {
    // croner reads `new Date()` and uses setTimeout, both faked here.
    vi.useFakeTimers({ now: new Date("2030-01-01T00:00:00.500Z") });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("calls the task at each matching second (croner works under fake timers)", async () => {
    const task = vi.fn(async () => {});
    const scheduler = cronScheduler("* * * * * *");
    scheduler.start(task);
    await vi.advanceTimersByTimeAsync(499);
    expect(task).toHaveBeenCalledTimes(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(task).toHaveBeenCalledTimes(1);
    await vi.advanceTimersByTimeAsync(3000);
    expect(task).toHaveBeenCalledTimes(4);
    await scheduler.stop();
  });

  it("runs an hourly expression on the hour", async () => {
    const task = vi.fn(async () => {});
    const scheduler = cronScheduler("0 * * * *", { timezone: "UTC" });
    scheduler.start(task);
    await vi.advanceTimersByTimeAsync(3_600_000 - 1000); // 00:59:59.500
    expect(task).toHaveBeenCalledTimes(0);
    await vi.advanceTimersByTimeAsync(1000); // 01:00:00.500
    expect(task).toHaveBeenCalledTimes(1);
    await vi.advanceTimersByTimeAsync(2 * 3_600_000);
    expect(task).toHaveBeenCalledTimes(3);
    await scheduler.stop();
  });

  it("reads the expression in the given time zone", async () => {
    // 03:00 in Tokyo (UTC+9, no DST) is 18:00 UTC.
    const task = vi.fn(async () => {});
    const scheduler = cronScheduler("0 3 * * *", { timezone: "Asia/Tokyo" });
    scheduler.start(task);
    await vi.advanceTimersByTimeAsync(18 * 3_600_000 - 1000); // 17:59:59.500Z
    expect(task).toHaveBeenCalledTimes(0);
    await vi.advanceTimersByTimeAsync(1000); // 18:00:00.500Z
    expect(task).toHaveBeenCalledTimes(1);
    expect(new Date().toISOString()).toBe("2030-01-01T18:00:00.500Z");
    await scheduler.stop();
  });

  it("never runs two tasks at once when a run outlasts the period", async () => {
    const { task, stats } = slowTask(2500);
    const scheduler = cronScheduler("* * * * * *");
    scheduler.start(task);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(stats.maxActive).toBe(1);
    // Every run covers 2.5 s, so at most one run per 3 s starts (4 in 10 s, at :01, :04, :07, :10).
    expect(stats.started).toBe(4);
    const stopped = scheduler.stop();
    await vi.advanceTimersByTimeAsync(2500);
    await stopped;
    expect(stats.active).toBe(0);
  });

  it("keeps running after a task rejects, and reports the error to onError", async () => {
    const failure = new Error("cleanup failed");
    const task = vi.fn().mockRejectedValueOnce(failure).mockResolvedValue(undefined);
    const onError = vi.fn();
    const scheduler = cronScheduler("* * * * * *", { onError });
    scheduler.start(task);
    await vi.advanceTimersByTimeAsync(3000); // 00:00:03.500: runs at :01, :02, :03
    expect(task).toHaveBeenCalledTimes(3);
    expect(onError).toHaveBeenCalledTimes(1);
    expect(onError).toHaveBeenCalledWith(failure);
    await scheduler.stop();
  });

  it("stop() waits for the run in progress, and nothing runs after it", async () => {
    const { task, state, release } = gatedTask();
    const scheduler = cronScheduler("* * * * * *");
    scheduler.start(task);
    await vi.advanceTimersByTimeAsync(500);
    expect(state).toEqual({ started: 1, finished: 0 });

    const stopped = scheduler.stop();
    expect(await isSettled(stopped)).toBe(false);
    expect(vi.getTimerCount()).toBe(0);
    release();
    await stopped;
    expect(state).toEqual({ started: 1, finished: 1 });

    await vi.advanceTimersByTimeAsync(10_000);
    expect(task).toHaveBeenCalledTimes(1);
    await scheduler.stop();
  });

  it("start() twice throws INVALID_STATE", async () => {
    const scheduler = cronScheduler("0 * * * *");
    scheduler.start(async () => {});
    expectError(() => scheduler.start(async () => {}), "INVALID_STATE", "already");
    await scheduler.stop();
  });

  it.each([
    "0 * * * *",
    "*/15 * * * *",
    "0 0 * * * *",
    "0 3 * * 1-5",
    "@hourly",
    "@daily",
  ])("accepts %j", (expression) => {
    expect(() => cronScheduler(expression)).not.toThrow();
  });

  it.each([
    ["", "cron expression"],
    ["   ", "cron expression"],
    ["every hour", "every hour"],
    ["* * * *", "* * * *"],
    ["* * * * * * * *", "* * * * * * * *"],
    ["61 * * * *", "61 * * * *"],
    ["0 25 * * *", "0 25 * * *"],
    ["0 0 32 * *", "0 0 32 * *"],
    ["0 0 * * 8", "0 0 * * 8"],
    ["2030-01-01T00:00:00", "a date"],
    ["0 0 30 2 *", "never matches"],
    ["0 0 0 1 1 * 2020", "never matches"],
  ])("rejects %j with INVALID_INPUT at creation", (expression, part) => {
    expectError(() => cronScheduler(expression), "INVALID_INPUT", part);
  });

  it("rejects a non-string expression and malformed options", () => {
    expectError(() => cronScheduler(42 as never), "INVALID_INPUT", "number");
    expectError(() => cronScheduler("0 * * * *", { timezone: "Mars/Olympus_Mons" }), "INVALID_INPUT", '"timezone"', "Mars/Olympus_Mons");
    expectError(() => cronScheduler("0 * * * *", { timezone: "" }), "INVALID_INPUT", '"timezone"');
    expectError(() => cronScheduler("0 * * * *", { onError: 1 as never }), "INVALID_INPUT", '"onError"');
    expectError(() => cronScheduler("0 * * * *", null as never), "INVALID_INPUT", "options");
  });

  it("holds no timer before start()", () => {
    cronScheduler("* * * * * *");
    expect(vi.getTimerCount()).toBe(0);
  });
});

interface ChildResult {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** The child was still alive `graceMs` after it printed "started" (or after the hard limit) and was killed. */
  timedOut: boolean;
}

/**
 * Runs `code` as an ES module in a child `node --import tsx`, which must print
 * "started" once its timers are set, and then exit on its own within `graceMs`.
 */
function runChild(code: string, graceMs: number, hardLimitMs = 20_000): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", code], {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    let timedOut = false;
    const kill = () => {
      timedOut = true;
      child.kill("SIGKILL");
    };
    let deadline = setTimeout(kill, hardLimitMs);
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      const before = stdout;
      stdout += chunk;
      if (!before.includes("started") && stdout.includes("started")) {
        clearTimeout(deadline);
        deadline = setTimeout(kill, graceMs);
      }
    });
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    child.on("error", (error) => {
      clearTimeout(deadline);
      reject(error);
    });
    child.on("close", (exitCode, signal) => {
      clearTimeout(deadline);
      resolve({ exitCode, signal, stdout, stderr, timedOut });
    });
  });
}

describe("timers do not keep the process alive", () => {
  it("a process with a started intervalScheduler and cronScheduler exits on its own", async () => {
    const result = await runChild(
      `
      import { intervalScheduler, cronScheduler } from ${JSON.stringify(EXPIRY_URL)};
      intervalScheduler({ intervalMs: 200, runOnStart: true }).start(async () => console.log("interval ran"));
      cronScheduler("* * * * * *").start(async () => console.log("cron ran"));
      console.log("started");
      `,
      3000,
    );
    expect(result.stderr).toBe("");
    expect(result.timedOut).toBe(false);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toContain("interval ran");
    expect(result.stdout).toContain("started");
  });

  it("the check above does detect a timer that keeps the process alive", async () => {
    // Control: a referenced interval must make the same harness report a timeout.
    const result = await runChild(
      `
      setInterval(() => {}, 200);
      console.log("started");
      `,
      1000,
    );
    expect(result.timedOut).toBe(true);
    expect(result.signal).toBe("SIGKILL");
  });
});
