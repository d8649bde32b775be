/**
 * A long-running host whose expired jobs are cleaned up by a cron schedule
 * (every hour, on the hour) rather than the default interval: the manager
 * runs `cleanupExpired()` itself, never twice at once, and logs the result.
 *
 *   npx tsx examples/cron-host.ts
 *
 * In an application, import from "ephemeral-jobs" and "ephemeral-jobs/http".
 */
import http from "node:http";
import { pathToFileURL } from "node:url";
import { JobStorageManager, cronScheduler, loadOptionsFromEnv } from "../src/index.js";
import { createJobsHandler, toNodeHandler } from "../src/http/index.js";

/** Opens the storage with an hourly cron cleanup and event logging. */
export async function openStorage(basePath?: string): Promise<JobStorageManager> {
  const storage = await JobStorageManager.open({
    ...loadOptionsFromEnv(),
    ...(basePath === undefined ? {} : { basePath }),
    scheduler: cronScheduler("0 * * * *", { onError: (error) => console.error("cleanup failed:", error) }),
  });
  storage.on("job:expired", ({ jobId, freedBytes }) => console.log(`expired ${jobId}, freed ${freedBytes} bytes`));
  return storage;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const storage = await openStorage();
  // No authorize: every caller is "anonymous" (fine on a private network; add one otherwise).
  // The cron timer is unref()'d: the server is what keeps this process alive.
  const server = http.createServer(toNodeHandler(createJobsHandler(storage))).listen(Number(process.env.PORT ?? 3000));
  console.log(`jobs API on :${process.env.PORT ?? 3000}, cleanup at minute 0 of every hour`);
  process.once("SIGTERM", () => server.close(() => void storage.close()));
}
