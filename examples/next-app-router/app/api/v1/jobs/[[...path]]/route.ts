/**
 * Next.js App Router: app/api/v1/jobs/[[...path]]/route.ts serves the whole
 * REST API. The handler is web-standard, so the route exports it as is.
 * The catch-all is optional (`[[...path]]`) so that `GET /api/v1/jobs`, the
 * list of the caller's jobs, reaches the handler too; `[...path]` needs at
 * least one segment and Next.js would answer that URL 404 itself.
 *
 * The storage lives on this server's local disk: run Next.js as a long-lived
 * Node.js server (`next start`, a container), not on serverless functions
 * whose /tmp does not outlive a request. The manager is opened on the first
 * request and kept on `globalThis`, so dev hot reloads do not open another.
 *
 * next.config.ts lists ephemeral-jobs and better-sqlite3 in
 * `serverExternalPackages`, so Node loads them from node_modules at run time.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { JobStorageManager, loadOptionsFromEnv } from "ephemeral-jobs";
import { createJobsHandler, type JobsAuth, type JobsHandler } from "ephemeral-jobs/http";

// Local disk and a native addon: the Node.js runtime, not the edge runtime.
export const runtime = "nodejs";
// Every answer depends on the storage; never prerender or cache one.
export const dynamic = "force-dynamic";

const sha256 = (value: string): Buffer => createHash("sha256").update(value).digest();
const matches = (token: string, expected: string | undefined): boolean =>
  expected !== undefined && expected !== "" && timingSafeEqual(sha256(token), sha256(expected));

/**
 * Service tokens: the agent workers' `JOBS_API_TOKEN` (trusted to act for the
 * user named in `x-user-id`) and an operator's `JOBS_ADMIN_TOKEN`. Replace
 * with your session check; throwing answers 401.
 */
function authorize(request: Request): JobsAuth {
  const token = /^Bearer\s+(\S+)$/i.exec(request.headers.get("authorization") ?? "")?.[1] ?? "";
  if (matches(token, process.env.JOBS_ADMIN_TOKEN)) return { userId: "admin", admin: true };
  if (matches(token, process.env.JOBS_API_TOKEN)) return { userId: request.headers.get("x-user-id") ?? "agent" };
  throw new Error("unauthorized");
}

const cache = globalThis as typeof globalThis & { jobsHandler?: Promise<JobsHandler> };

function jobsHandler(): Promise<JobsHandler> {
  cache.jobsHandler ??= JobStorageManager.open(loadOptionsFromEnv()).then(
    (storage) => createJobsHandler(storage, { authorize }),
    (error: unknown) => {
      cache.jobsHandler = undefined; // try again on the next request
      throw error;
    },
  );
  return cache.jobsHandler;
}

async function handle(request: Request): Promise<Response> {
  return (await jobsHandler())(request);
}

export { handle as GET, handle as POST, handle as DELETE, handle as HEAD };
