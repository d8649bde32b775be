/**
 * Plain `node:http` host: the REST API of `ephemeral-jobs/http` at
 * /api/v1/jobs, with bearer-token authentication. Anything else answers 404.
 *
 *   JOBS_TOKEN_SECRET=s3cret npx tsx examples/node-http.ts
 *   curl localhost:3000/api/v1/jobs/admin/stats -H "authorization: Bearer <token printed at start>"
 *
 * In an application, import from "ephemeral-jobs" and "ephemeral-jobs/http".
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import { once } from "node:events";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { pathToFileURL } from "node:url";
import { JobStorageManager, loadOptionsFromEnv } from "../src/index.js";
import { createJobsHandler, toNodeHandler, type JobsAuth } from "../src/http/index.js";

/** A signed token `<userId>.<hmac>`, as a login endpoint would issue it. */
export function issueToken(secret: string, userId: string): string {
  return `${userId}.${createHmac("sha256", secret).update(userId).digest("base64url")}`;
}

/**
 * `authorize` for createJobsHandler: `Authorization: Bearer <userId>.<hmac>`,
 * verified in constant time; the user named by `adminUserId` is admin.
 * Throwing answers 401.
 */
export function signedTokenAuth(secret: string, adminUserId = "admin"): (request: Request) => JobsAuth {
  return (request) => {
    const token = /^Bearer\s+(\S+)$/i.exec(request.headers.get("authorization") ?? "")?.[1] ?? "";
    const userId = token.slice(0, Math.max(0, token.lastIndexOf(".")));
    const expected = Buffer.from(issueToken(secret, userId));
    const given = Buffer.from(token);
    if (userId === "" || given.length !== expected.length || !timingSafeEqual(given, expected)) throw new Error("bad token");
    return { userId, admin: userId === adminUserId };
  };
}

/** Opens the storage and listens (`port: 0` picks a free port). */
export async function start(options: { port?: number; basePath?: string; secret?: string } = {}) {
  const storage = await JobStorageManager.open({
    ...loadOptionsFromEnv(),
    ...(options.basePath === undefined ? {} : { basePath: options.basePath }),
  });
  const handler = createJobsHandler(storage, {
    authorize: signedTokenAuth(options.secret ?? process.env.JOBS_TOKEN_SECRET ?? "dev-secret"),
    onError: (error) => console.error("jobs API error:", error),
  });
  const server = http.createServer(toNodeHandler(handler));
  server.listen(options.port ?? 3000);
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  return {
    server,
    storage,
    url: `http://127.0.0.1:${port}`,
    async close(): Promise<void> {
      const closed = new Promise((resolve) => server.close(resolve));
      server.closeAllConnections();
      await closed;
      await storage.close();
    },
  };
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const host = await start({ port: Number(process.env.PORT ?? 3000) });
  console.log(`jobs API on ${host.url}/api/v1/jobs`);
  if (process.env.JOBS_TOKEN_SECRET === undefined) console.log(`dev admin token: ${issueToken("dev-secret", "admin")}`);
  for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => void host.close());
}
