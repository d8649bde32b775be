/**
 * The scheduler for hosts that trigger cleanup themselves.
 */
import type { ExpiryScheduler } from "./scheduler.js";

/**
 * An {@link ExpiryScheduler} that never runs anything: `start()` and `stop()`
 * do nothing. The host calls `storage.cleanupExpired()` itself, from a cron
 * route (Vercel Cron, Cloud Scheduler), a Kubernetes CronJob running
 * `ephemeral-jobs cleanup`, or a queue's repeatable job.
 *
 * Use it on serverless hosts, where no timer outlives a request, and on every
 * process but one when several share a disk.
 *
 * @default no options
 * @throws never
 * @example
 * ```ts
 * const storage = await JobStorageManager.open({ scheduler: manualScheduler() });
 *
 * // app/api/cron/cleanup/route.ts (Next.js), called by the platform's cron:
 * export async function GET() {
 *   const { cleanedJobs, freedBytes } = await storage.cleanupExpired();
 *   return Response.json({ cleaned: cleanedJobs.length, freedBytes });
 * }
 * ```
 */
export function manualScheduler(): ExpiryScheduler {
  return Object.freeze({
    start(_task: () => Promise<unknown>): void {},
    async stop(): Promise<void> {},
  });
}
