/**
 * Helpers for hosts' own unit tests: `import { createTestStorage } from "ephemeral-jobs/testing"`.
 */
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { JobStorageOptions } from "../config.js";
import { manualScheduler } from "../expiry/manual.js";
import { JobStorageManager } from "../manager/manager.js";

/**
 * A manager on a fresh temporary base path, with a manual scheduler (no
 * background cleanup). Its `close()` (and `await using`) also removes the
 * base path.
 *
 * @example
 * ```ts
 * await using storage = await createTestStorage();
 * const job = await storage.createJob({ projectName: "test" });
 * ```
 */
export async function createTestStorage(
  options: Omit<JobStorageOptions, "basePath"> = {},
): Promise<JobStorageManager> {
  const basePath = await fs.mkdtemp(path.join(os.tmpdir(), "ephemeral-jobs-test-"));
  const storage = await JobStorageManager.open({ scheduler: manualScheduler(), ...options, basePath });
  const close = storage.close.bind(storage);
  let removed: Promise<void> | undefined;
  const closeAndRemove = (): Promise<void> =>
    (removed ??= close().finally(() => fs.rm(basePath, { recursive: true, force: true })));
  Object.defineProperty(storage, "close", { value: closeAndRemove });
  Object.defineProperty(storage, Symbol.asyncDispose, { value: closeAndRemove });
  return storage;
}
