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
  const remove = (): Promise<void> => fs.rm(basePath, { recursive: true, force: true });
  try {
    return await JobStorageManager.open({ scheduler: manualScheduler(), ...options, basePath }, { afterClose: remove });
  } catch (error) {
    await remove();
    throw error;
  }
}
