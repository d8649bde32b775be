/**
 * Hono host: the web-standard handler needs no adapter, `c.req.raw` is the
 * `Request` it takes. Runs on @hono/node-server here; the same app runs on
 * Bun or Deno (with a local disk).
 *
 *   JOBS_API_KEY=secret npx tsx examples/hono.ts
 *
 * In an application, import from "ephemeral-jobs" and "ephemeral-jobs/http".
 */
import { pathToFileURL } from "node:url";
import { serve } from "@hono/node-server";
import { Hono } from "hono";
import { JobStorageManager, loadOptionsFromEnv } from "../src/index.js";
import { createJobsHandler, type JobsAuth } from "../src/http/index.js";

export function createApp(storage: JobStorageManager, apiKey: string): Hono {
  const authorize = (request: Request): JobsAuth => {
    // Replace with your own session or JWT check; throwing answers 401.
    if (request.headers.get("x-api-key") !== apiKey) throw new Error("bad API key");
    return { userId: request.headers.get("x-user-id") ?? "anonymous" };
  };
  const jobs = createJobsHandler(storage, { authorize });
  const app = new Hono();
  app.all("/api/v1/jobs/*", (c) => jobs(c.req.raw));
  return app;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const storage = await JobStorageManager.open(loadOptionsFromEnv());
  const app = createApp(storage, process.env.JOBS_API_KEY ?? "dev-key");
  const server = serve({ fetch: app.fetch, port: Number(process.env.PORT ?? 3000) });
  process.once("SIGTERM", () => server.close(() => void storage.close()));
}
