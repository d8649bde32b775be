import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterEach } from "vitest";
import { JobStorageManager, manualScheduler, type JobStorageOptions } from "../../src/index.js";
import { createTestStorage } from "../../src/testing/index.js";

const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

/** A fresh temporary directory, removed after the test. */
export async function tempDir(label = "ej-"): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), label));
  cleanups.push(() => fs.rm(dir, { recursive: true, force: true }));
  return dir;
}

/** A settable clock for `now`. */
export function fakeClock(start = new Date("2026-01-01T00:00:00Z")): { now: () => Date; advanceHours(h: number): void } {
  let current = start.getTime();
  return {
    now: () => new Date(current),
    advanceHours(hours: number) {
      current += hours * 3_600_000;
    },
  };
}

/**
 * A manager with a manual scheduler, closed after the test: on a fresh base path
 * from `createTestStorage` (removed on close), or on `options.basePath`.
 */
export async function openStorage(
  options: JobStorageOptions = {},
): Promise<{ storage: JobStorageManager; basePath: string }> {
  const { basePath, ...rest } = options;
  const storage =
    basePath === undefined ? await createTestStorage(rest) : await JobStorageManager.open({ scheduler: manualScheduler(), ...rest, basePath });
  cleanups.push(() => storage.close());
  return { storage, basePath: storage.basePath };
}
