/**
 * Fastify 5 host: the REST API mounted as a plugin at the handler's prefix.
 * Inside the plugin no body parser runs, so file uploads reach the handler as
 * a stream with its own size limits; the host's other routes keep Fastify's
 * JSON parsing.
 *
 *   JOBS_API_KEY=secret npx tsx examples/fastify.ts
 *   curl -X POST localhost:3000/api/v1/jobs/create -H "x-api-key: secret" -d '{"project_name":"demo"}'
 *
 * In an application, import from "ephemeral-jobs" and "ephemeral-jobs/http".
 */
import { pathToFileURL } from "node:url";
import Fastify, { type FastifyInstance } from "fastify";
import { JobStorageManager, loadOptionsFromEnv } from "../src/index.js";
import { createJobsHandler, toFastifyPlugin, type JobsAuth } from "../src/http/index.js";

export async function createApp(storage: JobStorageManager, apiKey: string): Promise<FastifyInstance> {
  const authorize = (request: Request): JobsAuth => {
    // Replace with your own session or JWT check; throwing answers 401.
    if (request.headers.get("x-api-key") !== apiKey) throw new Error("bad API key");
    return { userId: request.headers.get("x-user-id") ?? "anonymous" };
  };
  const jobs = createJobsHandler(storage, { authorize, onError: (error) => app.log.error(error) });
  const app = Fastify();
  await app.register(toFastifyPlugin(jobs), { prefix: jobs.prefix });
  // The host's own routes, parsed by Fastify as usual.
  app.post("/echo", async (request) => ({ received: request.body }));
  return app;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const storage = await JobStorageManager.open(loadOptionsFromEnv());
  const app = await createApp(storage, process.env.JOBS_API_KEY ?? "dev-key");
  await app.listen({ port: Number(process.env.PORT ?? 3000), host: "127.0.0.1" });
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => void app.close().then(() => storage.close()));
  }
}
