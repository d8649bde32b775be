/**
 * The host of the live page: serves `index.html`, `app.js`, `style.css` and `favicon.svg`
 * from this folder and mounts the REST API of `ephemeral-jobs/http` at
 * /api/v1/jobs, on one `node:http` server.
 *
 *   npx tsx examples/live-job/server.ts          # PORT (default 0: a free port), HOST (default 127.0.0.1)
 *   npx tsx examples/live-job/agent.ts           # in another shell, with the two lines the host prints
 *
 * In an application, import from "ephemeral-jobs" and "ephemeral-jobs/http".
 */
import { randomBytes, timingSafeEqual } from "node:crypto";
import { once } from "node:events";
import { readFile } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { pathToFileURL } from "node:url";
import { JobStorageManager, loadOptionsFromEnv } from "../../src/index.js";
import { createJobsHandler, toNodeHandler, type JobsAuth } from "../../src/http/index.js";

/** The one user of this demo: the agent writes as it, the page reads as it. */
export const DEMO_USER = "demo";
/** The cookie the host sets on the page; a real host sets its session cookie at login. */
export const SESSION_COOKIE = "live_job_session";

/** The page's files, by URL path. A fixed table: no path from the request ever reaches the disk. */
const PAGE_FILES: Record<string, { file: string; type: string }> = {
  "/": { file: "index.html", type: "text/html; charset=utf-8" },
  "/index.html": { file: "index.html", type: "text/html; charset=utf-8" },
  "/app.js": { file: "app.js", type: "text/javascript; charset=utf-8" },
  "/style.css": { file: "style.css", type: "text/css; charset=utf-8" },
  "/favicon.svg": { file: "favicon.svg", type: "image/svg+xml" },
};

function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

function cookieValue(header: string | null, name: string): string | undefined {
  for (const part of (header ?? "").split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/**
 * `authorize` for the jobs handler. An agent sends `Authorization: Bearer <agentToken>`.
 * The page cannot: `EventSource` has no way to set a header, so `/events` (and,
 * for the same reason, the download link) would answer 401. It sends what a
 * browser sends by itself, the same-origin session cookie this host set on the
 * page. The cookie is `SameSite=Strict`, so another site cannot make the
 * browser send it (no cross-site request forgery), and `HttpOnly`, so the page's
 * script never sees it. (A `?token=` query parameter would also work, but it
 * ends up in access logs and the browser history.)
 */
export function liveJobAuth(agentToken: string, sessions: ReadonlySet<string>): (request: Request) => JobsAuth {
  return (request) => {
    const bearer = /^Bearer\s+(\S+)$/i.exec(request.headers.get("authorization") ?? "")?.[1];
    if (bearer !== undefined && sameSecret(bearer, agentToken)) return { userId: DEMO_USER };
    const session = cookieValue(request.headers.get("cookie"), SESSION_COOKIE);
    if (session !== undefined && sessions.has(session)) return { userId: DEMO_USER };
    throw new Error("no agent token and no session cookie"); // -> 401
  };
}

export interface LiveJobHostOptions {
  /** @default 0 (a free port) */
  port?: number;
  /** @default "127.0.0.1" */
  host?: string;
  /** Where the jobs live. @default loadOptionsFromEnv() (JOBS_BASE_PATH, else the default base path) */
  basePath?: string;
  /** The agent's bearer token. @default a random one */
  agentToken?: string;
}

/** Opens the storage and listens; `close()` stops both. */
export async function start(options: LiveJobHostOptions = {}) {
  const storage = await JobStorageManager.open({
    ...loadOptionsFromEnv(),
    ...(options.basePath === undefined ? {} : { basePath: options.basePath }),
  });
  const agentToken = options.agentToken ?? randomBytes(24).toString("base64url");
  // In memory, for the demo: a real host keeps its sessions in its session store.
  const sessions = new Set<string>();
  const pages = new Map<string, Buffer>();
  for (const { file } of Object.values(PAGE_FILES)) pages.set(file, await readFile(new URL(file, import.meta.url)));

  const api = toNodeHandler(
    createJobsHandler(storage, {
      authorize: liveJobAuth(agentToken, sessions),
      onError: (error) => console.error("jobs API error:", error),
    }),
  );

  function servePage(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? "/", "http://localhost");
    const page = Object.hasOwn(PAGE_FILES, url.pathname) ? PAGE_FILES[url.pathname] : undefined;
    if (page === undefined) {
      res.writeHead(404, { "content-type": "text/plain; charset=utf-8" }).end("Not found\n");
      return;
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD", "content-type": "text/plain; charset=utf-8" }).end("Method not allowed\n");
      return;
    }
    const body = pages.get(page.file)!;
    const headers: http.OutgoingHttpHeaders = {
      "content-type": page.type,
      "content-length": body.length,
      "cache-control": "no-cache",
      "x-content-type-options": "nosniff",
      // The page runs only its own script and talks only to this origin.
      "content-security-policy": "default-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    };
    if (page.file === "index.html") {
      const current = cookieValue(req.headers.cookie ?? null, SESSION_COOKIE);
      if (current === undefined || !sessions.has(current)) {
        const session = randomBytes(24).toString("base64url");
        sessions.add(session);
        // Add `Secure` when the host is served over HTTPS.
        headers["set-cookie"] = `${SESSION_COOKIE}=${session}; Path=/; HttpOnly; SameSite=Strict`;
      }
    }
    res.writeHead(200, headers).end(req.method === "HEAD" ? undefined : body);
  }

  // URLs outside /api/v1/jobs reach `next`, which serves the page.
  const server = http.createServer((req, res) => api(req, res, () => servePage(req, res)));
  server.listen(options.port ?? 0, options.host ?? "127.0.0.1");
  await once(server, "listening");
  const address = server.address() as AddressInfo;
  const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
  return {
    storage,
    agentToken,
    url: `http://${host}:${address.port}/`,
    async close(): Promise<void> {
      const closed = new Promise((resolve) => server.close(resolve));
      server.closeAllConnections(); // an open /events stream would otherwise hold close() forever
      await closed;
      await storage.close();
    },
  };
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const host = await start({
    port: Number(process.env.PORT ?? 0),
    host: process.env.HOST ?? "127.0.0.1",
    ...(process.env.LIVE_JOB_TOKEN === undefined ? {} : { agentToken: process.env.LIVE_JOB_TOKEN }),
  });
  console.log(`live page: ${host.url}`);
  console.log(`agent: LIVE_JOB_URL=${host.url} LIVE_JOB_TOKEN=${host.agentToken} npx tsx examples/live-job/agent.ts`);
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => {
      host.close().then(
        () => process.exit(0),
        (error: unknown) => {
          console.error(error);
          process.exit(1);
        },
      );
    });
  }
}
