/**
 * Expiry schedulers: the {@link ExpiryScheduler} contract and its implementations.
 */
export type { ExpiryScheduler } from "./scheduler.js";
export {
  DEFAULT_INTERVAL_MS,
  MAX_INTERVAL_MS,
  intervalScheduler,
  type IntervalSchedulerOptions,
} from "./interval.js";
export { cronScheduler, type CronSchedulerOptions } from "./cron.js";
export { manualScheduler } from "./manual.js";
