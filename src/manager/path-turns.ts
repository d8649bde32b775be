/**
 * Changes to one path of a job take turns, across processes. A write,
 * delete or move whose path has another change in flight (an intent that
 * names it) waits until that change's outcome is recorded, then is
 * accounted again. Two renames onto one path therefore land in the order
 * the index accounted for them, and the disk ends up holding what the
 * index counts; without turns, a slower earlier rename could land last and
 * bring back bytes the project limit had already given to other files.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { flushOutcomes, type StorageContext } from "./context.js";
import { settleForeignIntents } from "./maintenance.js";

/** The first wait; each later one doubles, up to the longest. A change is in flight for about a rename. */
const FIRST_WAIT_MS = 1;
const LONGEST_WAIT_MS = 16;
/** How often a waiter probes a blocking process's lock afresh (each probe is about a millisecond). */
const FRESH_PROBE_EVERY_MS = 64;

/** Resolves once no change is in flight at any of `paths` (a dead process's changes are settled). */
export async function waitForPaths(context: StorageContext, jobId: string, paths: Iterable<string>): Promise<void> {
  const wanted = [...new Set(paths)];
  let wait = FIRST_WAIT_MS;
  let waited = 0;
  let probed = -Infinity;
  for (;;) {
    flushOutcomes(context); // this process's own landed changes
    const owners = context.index.read(() => wanted.map((filePath) => context.index.pathBusy(jobId, filePath)));
    const busy = owners.filter((owner): owner is string => owner !== undefined);
    if (busy.length === 0) return;
    // Before waiting on another process, and every so often while waiting, look at its lock
    // again: one seen alive a moment ago may just have been killed mid-change.
    const fresh = waited - probed >= FRESH_PROBE_EVERY_MS;
    if (fresh) probed = waited;
    if (busy.some((owner) => owner !== context.owners.id && !context.owners.isAlive(owner, { fresh }))) {
      await settleForeignIntents(context, jobId);
      continue;
    }
    await sleep(wait);
    waited += wait;
    wait = Math.min(wait * 2, LONGEST_WAIT_MS);
  }
}
