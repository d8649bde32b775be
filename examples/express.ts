/**
 * Express 5 host: the REST API of `ephemeral-jobs/http` mounted at
 * /api/v1/jobs, with bearer-token authentication.
 *
 *   JOBS_API_TOKENS="dev-token=alice,ops-token=ops:admin" npx tsx examples/express.ts
 *   curl -X POST localhost:3000/api/v1/jobs/create -H "authorization: Bearer dev-token" \
 *        -H "content-type: application/json" -d '{"project_name":"my-react-app"}'
 *
 * In an application, import from "ephemeral-jobs" and "ephemeral-jobs/http".
 */
import { once } from "node:events";
import type { AddressInfo } from "node:net";
import type { Server } from "node:http";
import { pathToFileURL } from "node:url";
import express, { type Express } from "express";
import { JobStorageManager, loadOptionsFromEnv } from "../src/index.js";
import { createJobsHandler, toNodeHandler, type JobsAuth } from "../src/http/index.js";

/** Bearer token -> caller. */
export type TokenTable = Record<string, JobsAuth>;

/** Reads `token=user[:admin],...` (the JOBS_API_TOKENS format). */
export function parseTokens(spec: string): TokenTable {
  const tokens: TokenTable = {};
  for (const entry of spec.split(",").map((item) => item.trim()).filter(Boolean)) {
    const [token = "", user = ""] = entry.split("=");
    const [userId = "", role] = user.split(":");
    if (token && userId) tokens[token] = { userId, admin: role === "admin" };
  }
  return tokens;
}

/** `authorize` for createJobsHandler: `Authorization: Bearer <token>`; throwing answers 401. */
export function bearerAuth(tokens: TokenTable): (request: Request) => JobsAuth {
  return (request) => {
    const token = /^Bearer\s+(\S+)$/i.exec(request.headers.get("authorization") ?? "")?.[1];
    if (token === undefined || !Object.hasOwn(tokens, token)) throw new Error("unknown token");
    return tokens[token]!;
  };
}

/** The Express app: the jobs API under /api/v1/jobs, next to the host's own routes. */
export function createApp(storage: JobStorageManager, tokens: TokenTable): Express {
  const app = express();
  app.disable("x-powered-by");
  app.get("/healthz", (_req, res) => {
    res.json({ ok: true });
  });
  // Mount before any body parser: the handler reads (and size-limits) the body itself.
  app.use("/api/v1/jobs", toNodeHandler(createJobsHandler(storage, { authorize: bearerAuth(tokens) })));
  return app;
}

/** A running host; `close()` stops the server and the storage. */
export interface RunningHost {
  server: Server;
  storage: JobStorageManager;
  url: string;
  close(): Promise<void>;
}

/** Opens the storage and listens (`port: 0` picks a free port). */
export async function start(options: { port?: number; basePath?: string; tokens?: TokenTable } = {}): Promise<RunningHost> {
  const storage = await JobStorageManager.open({
    ...loadOptionsFromEnv(),
    ...(options.basePath === undefined ? {} : { basePath: options.basePath }),
  });
  const tokens = options.tokens ?? parseTokens(process.env.JOBS_API_TOKENS ?? "dev-token=dev-user,ops-token=ops:admin");
  const server = createApp(storage, tokens).listen(options.port ?? 3000);
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  return {
    server,
    storage,
    url: `http://127.0.0.1:${port}`,
    async close() {
      const closed = new Promise((resolve) => server.close(resolve));
      server.closeAllConnections();
      await closed;
      await storage.close();
    },
  };
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const host = await start({ port: Number(process.env.PORT ?? 3000) });
  console.log(`jobs API on ${host.url}/api/v1/jobs (storage in ${host.storage.basePath})`);
  for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => void host.close());
}
