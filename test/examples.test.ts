/**
 * The example hosts, started in-process on port 0 and driven by a real HTTP
 * client through the whole flow of the original design guide.
 */
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs/promises";
import http from "node:http";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import * as expressExample from "../examples/express.js";
import * as honoExample from "../examples/hono.js";
import * as nodeExample from "../examples/node-http.js";
import * as cronExample from "../examples/cron-host.js";
import * as workerExample from "../examples/queue-worker.js";
import { JobStorageManager, manualScheduler } from "../src/index.js";
import { tempDir } from "./helpers/temp.js";

type Json = Record<string, unknown>;

interface Host {
  url: string;
  storage: JobStorageManager;
  close(): Promise<void>;
}

const running: Host[] = [];
afterEach(async () => {
  while (running.length > 0) await running.pop()!.close();
});

interface Client {
  request(method: string, route: string, options?: { as?: "user" | "other" | "admin" | "nobody"; body?: unknown }): Promise<Response>;
  json(method: string, route: string, options?: { as?: "user" | "other" | "admin" | "nobody"; body?: unknown }): Promise<{ status: number; body: Json }>;
}

function client(baseUrl: string, tokens: Record<"user" | "other" | "admin", string>): Client {
  const request: Client["request"] = (method, route, options = {}) => {
    const headers: Record<string, string> = {};
    const as = options.as ?? "user";
    if (as !== "nobody") headers.authorization = `Bearer ${tokens[as]}`;
    let body: string | undefined;
    if (options.body !== undefined) {
      headers["content-type"] = "application/json";
      body = JSON.stringify(options.body);
    }
    return fetch(`${baseUrl}/api/v1/jobs${route}`, { method, headers, body });
  };
  return {
    request,
    async json(method, route, options) {
      const response = await request(method, route, options);
      return { status: response.status, body: (await response.json()) as Json };
    },
  };
}

/** The guide's whole flow, as an agent and an operator would drive it. */
async function guideFlow(api: Client, storage: JobStorageManager): Promise<void> {
  // Create
  const created = await api.json("POST", "/create", { body: { project_name: "my-react-app", job_id: "abc123" } });
  expect(created.status).toBe(200);
  expect(created.body).toMatchObject({ job_id: "abc123", project_name: "my-react-app", status: "generating", files_count: 0, zip_ready: false, download_url: null });
  expect((await api.json("GET", "/abc123", { as: "other" })).status).toBe(404);
  expect((await api.json("GET", "/abc123", { as: "nobody" })).status).toBe(401);

  // Plan
  const plan = { tasks: [{ name: "Setup", files: ["package.json"] }, { name: "Components", files: ["src/App.tsx"] }], metadata: { framework: "react" } };
  expect((await api.json("POST", "/abc123/plan", { body: plan })).body).toEqual({ success: true });

  // Files: one, then a batch
  const one = await api.json("POST", "/abc123/files", { body: { path: "src/App.tsx", content: "export default function App() {}\n" } });
  expect(one.body).toEqual({ success: true, path: "src/App.tsx", size: 33 });
  const batch = await api.json("POST", "/abc123/files/batch", {
    body: [
      { path: "package.json", content: '{ "name": "my-react-app" }\n' },
      { path: "src/index.tsx", content: "import App from './App';\n" },
      { path: "src/app/[id]/page.tsx", content: "export default 1;\n" },
      { path: "../../../etc/passwd", content: "hack" },
    ],
  });
  expect(batch.body).toMatchObject({ total: 4, success: 3, failed: 1 });
  expect((batch.body.results as Json[])[3]).toMatchObject({ success: false, error: { code: "INVALID_PATH" } });

  // List and read (a path with brackets, percent-encoded in the URL)
  const listed = await api.json("GET", "/abc123/files");
  expect(listed.body.count).toBe(4);
  expect((listed.body.files as Json[]).map((file) => file.path)).toEqual(["package.json", "src/App.tsx", "src/app/[id]/page.tsx", "src/index.tsx"]);
  expect((await api.json("GET", "/abc123/files/src/app/%5Bid%5D/page.tsx")).body).toEqual({ path: "src/app/[id]/page.tsx", content: "export default 1;\n" });
  expect((await api.json("GET", "/abc123/files/%2e%2e%2f%2e%2e%2fetc%2fpasswd")).status).toBe(400);

  // Status
  expect((await api.json("GET", "/abc123")).body).toMatchObject({ status: "generating", files_count: 4, zip_ready: false });

  // Complete and download
  const completed = await api.json("POST", "/abc123/complete");
  expect(completed.body).toMatchObject({ success: true, status: "complete", download_url: "/api/v1/jobs/abc123/download" });
  const download = await api.request("GET", "/abc123/download");
  expect(download.status).toBe(200);
  expect(download.headers.get("content-type")).toBe("application/zip");
  expect(download.headers.get("content-disposition")).toBe('attachment; filename="my-react-app.zip"');
  const bytes = Buffer.from(await download.arrayBuffer());
  expect(Number(download.headers.get("content-length"))).toBe(bytes.length);
  const zipFile = path.join(await tempDir("ej-download-"), "download.zip");
  await fs.writeFile(zipFile, bytes);
  expect(execFileSync("unzip", ["-t", zipFile], { encoding: "utf8" })).toContain("No errors detected");
  const entries = execFileSync("unzip", ["-Z1", zipFile], { encoding: "utf8" }).trim().split("\n").sort();
  expect(entries).toEqual(["package.json", "src/App.tsx", "src/app/[id]/page.tsx", "src/index.tsx"]);
  expect(execFileSync("unzip", ["-p", zipFile, "src/App.tsx"], { encoding: "utf8" })).toBe("export default function App() {}\n");

  // Fail (another job), then delete
  await api.json("POST", "/create", { body: { project_name: "broken", job_id: "def456" } });
  const failed = await api.json("POST", "/def456/fail?error_message=Generation%20failed");
  expect(failed.body).toMatchObject({ success: true, status: "failed" });
  expect((await api.json("GET", "/def456")).body).toMatchObject({ status: "failed", error_message: "Generation failed" });
  expect((await api.json("POST", "/def456/files", { body: { path: "a", content: "b" } })).status).toBe(409);
  expect((await api.json("DELETE", "/def456?keep_zip=false")).body).toEqual({ success: true, message: "Job def456 deleted" });
  expect((await api.json("GET", "/def456")).status).toBe(404);

  // Admin
  expect((await api.json("GET", "/admin/stats")).status).toBe(403);
  const stats = await api.json("GET", "/admin/stats", { as: "admin" });
  expect(stats.status).toBe(200);
  expect(stats.body).toMatchObject({ base_path: storage.basePath, job_count: 1, file_count: 4, expiry_hours: 48 });
  expect(typeof stats.body.total_size_mb).toBe("number");
  const cleanup = await api.json("POST", "/admin/cleanup", { as: "admin" });
  expect(cleanup.body).toMatchObject({ success: true, cleaned_jobs: 0 });
  expect((await api.json("POST", "/admin/cleanup")).status).toBe(403);
}

/** File descriptors of this process that point at `file` (Linux). */
async function openDescriptors(file: string): Promise<number> {
  const fds = await fs.readdir("/proc/self/fd").catch(() => [] as string[]);
  let count = 0;
  for (const fd of fds) {
    const target = await fs.readlink(`/proc/self/fd/${fd}`).catch(() => "");
    if (target === file) count += 1;
  }
  return count;
}

/** Starts a download of a large ZIP and disconnects after the first chunk; the server must keep serving. */
async function disconnectMidDownload(host: Host, authorization: string, jobOwner: string): Promise<void> {
  const job = await host.storage.createJob({ projectName: "big", userId: jobOwner, jobId: "big1" });
  await host.storage.writeFile(job.jobId, "random.bin", randomBytes(9 * 1024 * 1024));
  await host.storage.completeJob(job.jobId);
  const zipPath = (await host.storage.openZip(job.jobId).then((zip) => (zip.stream.destroy(), zip.path)));

  const { received, openWhileSending } = await new Promise<{ received: number; openWhileSending: number }>((resolve, reject) => {
    const request = http.get(`${host.url}/api/v1/jobs/big1/download`, { headers: { authorization } }, (response) => {
      expect(response.statusCode).toBe(200);
      response.once("data", (chunk: Buffer) => {
        response.pause();
        // The server is mid-download: it still holds the ZIP open.
        void openDescriptors(zipPath).then((open) => {
          request.destroy(); // the client goes away
          resolve({ received: chunk.length, openWhileSending: open });
        }, reject);
      });
    });
    request.on("error", (error) => {
      if ((error as NodeJS.ErrnoException).code !== "ECONNRESET") reject(error);
    });
  });
  expect(received).toBeGreaterThan(0);
  const procFs = await fs.access("/proc/self/fd").then(() => true, () => false);
  if (procFs) expect(openWhileSending).toBe(1);

  // The server closed the ZIP it was sending, and still answers.
  for (let i = 0; i < 100 && (await openDescriptors(zipPath)) > 0; i++) await new Promise((resolve) => setTimeout(resolve, 20));
  expect(await openDescriptors(zipPath)).toBe(0);
  const again = await fetch(`${host.url}/api/v1/jobs/big1/download`, { headers: { authorization } });
  expect(again.status).toBe(200);
  expect((await again.arrayBuffer()).byteLength).toBe(Number(again.headers.get("content-length")));
}

describe("examples/express.ts", () => {
  const tokens = { "u-token": { userId: "alice" }, "o-token": { userId: "bob" }, "a-token": { userId: "ops", admin: true } };
  const auth = { user: "u-token", other: "o-token", admin: "a-token" };

  it("serves the guide's whole flow over HTTP", async () => {
    const host = await expressExample.start({ port: 0, basePath: await tempDir(), tokens });
    running.push(host);
    await guideFlow(client(host.url, auth), host.storage);
  });

  it("keeps the host's own routes, and answers 404 JSON under the prefix", async () => {
    const host = await expressExample.start({ port: 0, basePath: await tempDir(), tokens });
    running.push(host);
    expect(await (await fetch(`${host.url}/healthz`)).json()).toEqual({ ok: true });
    const unknown = await fetch(`${host.url}/api/v1/jobs/x/y/z`, { headers: { authorization: "Bearer u-token" } });
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toMatchObject({ error: { code: "ROUTE_NOT_FOUND" } });
  });

  it("survives a client that disconnects mid-download", async () => {
    const host = await expressExample.start({ port: 0, basePath: await tempDir(), tokens });
    running.push(host);
    await disconnectMidDownload(host, "Bearer u-token", "alice");
  });

  it("parses JOBS_API_TOKENS", () => {
    expect(expressExample.parseTokens("a=alice, b=ops:admin,bad,=x")).toEqual({
      a: { userId: "alice", admin: false },
      b: { userId: "ops", admin: true },
    });
  });
});

describe("examples/node-http.ts", () => {
  const secret = "test-secret";
  const auth = {
    user: nodeExample.issueToken(secret, "alice"),
    other: nodeExample.issueToken(secret, "bob"),
    admin: nodeExample.issueToken(secret, "admin"),
  };

  it("serves the guide's whole flow over HTTP", async () => {
    const host = await nodeExample.start({ port: 0, basePath: await tempDir(), secret });
    running.push(host);
    await guideFlow(client(host.url, auth), host.storage);
  });

  it("refuses forged tokens", async () => {
    const host = await nodeExample.start({ port: 0, basePath: await tempDir(), secret });
    running.push(host);
    const forged = `admin.${"A".repeat(43)}`;
    const response = await fetch(`${host.url}/api/v1/jobs/admin/stats`, { headers: { authorization: `Bearer ${forged}` } });
    expect(response.status).toBe(401);
    const otherSecret = nodeExample.issueToken("other-secret", "admin");
    expect((await fetch(`${host.url}/api/v1/jobs/admin/stats`, { headers: { authorization: `Bearer ${otherSecret}` } })).status).toBe(401);
  });

  it("survives a client that disconnects mid-download", async () => {
    const host = await nodeExample.start({ port: 0, basePath: await tempDir(), secret });
    running.push(host);
    await disconnectMidDownload(host, `Bearer ${auth.user}`, "alice");
  });
});

describe("examples/hono.ts", () => {
  it("serves the API through Hono", async () => {
    const storage = await JobStorageManager.open({ basePath: await tempDir(), scheduler: manualScheduler() });
    running.push({ url: "", storage, close: () => storage.close() });
    const app = honoExample.createApp(storage, "key");
    const headers = { "x-api-key": "key", "x-user-id": "alice", "content-type": "application/json" };
    const created = await app.request("/api/v1/jobs/create", { method: "POST", headers, body: '{"project_name":"hono-app","job_id":"h1"}' });
    expect(created.status).toBe(200);
    expect(await created.json()).toMatchObject({ job_id: "h1", user_id: "alice" });
    expect((await app.request("/api/v1/jobs/h1", { headers })).status).toBe(200);
    expect((await app.request("/api/v1/jobs/h1", { headers: { "x-api-key": "wrong" } })).status).toBe(401);
  });
});

describe("examples/queue-worker.ts", () => {
  it("drains the queue: completes good requests, fails a bad one", async () => {
    const storage = await JobStorageManager.open({ basePath: await tempDir(), scheduler: manualScheduler() });
    running.push({ url: "", storage, close: () => storage.close() });
    const lines: string[] = [];
    workerExample.logEvents(storage, (line) => lines.push(line));
    const ids = await workerExample.drainQueue(storage, [
      { userId: "u1", projectName: "a", plan: { tasks: [{ name: "s", files: ["package.json", "src/a.ts"] }] } },
      { userId: "u2", projectName: "b", plan: { tasks: [{ name: "s", files: ["index.ts"] }] } },
      { userId: "u3", projectName: "c", plan: { tasks: [{ name: "s", files: ["../evil"] }] } },
    ]);
    const jobs = await Promise.all(ids.map((id) => storage.getJob(id)));
    expect(jobs.map((job) => job?.status).sort()).toEqual(["complete", "complete", "failed"]);
    expect(lines.filter((line) => line.startsWith("completed"))).toHaveLength(2);
    expect(lines.filter((line) => line.startsWith("failed"))).toHaveLength(1);
  });
});

describe("examples/cron-host.ts", () => {
  it("opens a storage with the hourly cron scheduler, and closes it", async () => {
    const storage = await cronExample.openStorage(await tempDir());
    running.push({ url: "", storage, close: () => storage.close() });
    expect(storage.listenerCount("job:expired")).toBe(1);
    const job = await storage.createJob({ projectName: "x" });
    expect(job.status).toBe("generating");
  });
});
