/**
 * The REST API inside a real Fastify 5 server on port 0 (examples/fastify.ts),
 * driven by fetch through the guide's flow; file bodies reach the handler as
 * streams, never through Fastify's parsers or its 1 MiB body limit.
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs/promises";
import path from "node:path";
import Fastify, { type FastifyInstance } from "fastify";
import ts from "typescript";
import { afterEach, describe, expect, it } from "vitest";
import { createApp } from "../examples/fastify.js";
import { createJobsHandler, toFastifyPlugin } from "../src/http/index.js";
import { isJobStorageError } from "../src/index.js";
import { openStorage, tempDir } from "./helpers/temp.js";

const API_KEY = "k3y";
const apps: FastifyInstance[] = [];
afterEach(async () => {
  while (apps.length > 0) await apps.pop()!.close();
});

async function listen(app: FastifyInstance): Promise<string> {
  apps.push(app);
  return app.listen({ port: 0, host: "127.0.0.1" });
}

type Json = Record<string, unknown>;

function api(base: string) {
  const request = (method: string, route: string, body?: unknown, headers: Record<string, string> = {}) =>
    fetch(`${base}/api/v1/jobs${route}`, {
      method,
      headers: { "x-api-key": API_KEY, ...(body === undefined ? {} : { "content-type": "application/json" }), ...headers },
      body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
    });
  return {
    request,
    async json(method: string, route: string, body?: unknown, headers?: Record<string, string>) {
      const response = await request(method, route, body, headers);
      return { status: response.status, body: (await response.json()) as Json };
    },
  };
}

describe("examples/fastify.ts", () => {
  it("serves the guide's flow: create, plan, batch, list, nested read, complete, download, delete", async () => {
    const { storage } = await openStorage();
    const base = await listen(await createApp(storage, API_KEY));
    const jobs = api(base);

    const created = await jobs.json("POST", "/create", { project_name: "my-react-app", job_id: "abc123" });
    expect(created.status).toBe(200);
    expect(created.body).toMatchObject({ job_id: "abc123", project_name: "my-react-app", status: "generating", files_count: 0 });
    expect((await jobs.json("GET", "/abc123", undefined, { "x-api-key": "wrong" })).status).toBe(401);

    const plan = { tasks: [{ name: "Setup", files: ["package.json"] }], metadata: { framework: "react" } };
    expect((await jobs.json("POST", "/abc123/plan", plan)).body).toEqual({ success: true });
    expect((await jobs.json("GET", "/abc123/plan")).body).toEqual({ job_id: "abc123", plan });

    const batch = await jobs.json("POST", "/abc123/files/batch", [
      { path: "package.json", content: '{ "name": "my-react-app" }\n' },
      { path: "src/App.tsx", content: "export default function App() {}\n" },
      { path: "src/app/[id]/page.tsx", content: "export default 1;\n" },
      { path: "../../../etc/passwd", content: "hack" },
    ]);
    expect(batch.body).toMatchObject({ total: 4, success: 3, failed: 1 });
    expect((batch.body.results as Json[])[3]).toMatchObject({ success: false, error: { code: "INVALID_PATH" } });

    const listed = await jobs.json("GET", "/abc123/files");
    expect(listed.body.count).toBe(3);
    expect((listed.body.files as Json[]).map((file) => file.path)).toEqual(["package.json", "src/App.tsx", "src/app/[id]/page.tsx"]);
    expect((await jobs.json("GET", "/abc123/files/src/app/%5Bid%5D/page.tsx")).body).toEqual({
      path: "src/app/[id]/page.tsx",
      content: "export default 1;\n",
    });

    const completed = await jobs.json("POST", "/abc123/complete");
    expect(completed.body).toMatchObject({ success: true, status: "complete", download_url: "/api/v1/jobs/abc123/download" });
    const download = await jobs.request("GET", "/abc123/download");
    expect(download.status).toBe(200);
    expect(download.headers.get("content-type")).toBe("application/zip");
    expect(download.headers.get("content-disposition")).toBe('attachment; filename="my-react-app.zip"');
    const bytes = Buffer.from(await download.arrayBuffer());
    expect(Number(download.headers.get("content-length"))).toBe(bytes.length);
    const zipFile = path.join(await tempDir("ej-fastify-"), "download.zip");
    await fs.writeFile(zipFile, bytes);
    expect(execFileSync("unzip", ["-t", zipFile], { encoding: "utf8" })).toContain("No errors detected");
    expect(execFileSync("unzip", ["-Z1", zipFile], { encoding: "utf8" }).trim().split("\n").sort()).toEqual([
      "package.json",
      "src/App.tsx",
      "src/app/[id]/page.tsx",
    ]);

    expect((await jobs.json("DELETE", "/abc123")).body).toEqual({ success: true, message: "Job abc123 deleted" });
    expect((await jobs.json("GET", "/abc123")).status).toBe(404);
  });

  it("hands file uploads to the handler as a stream: past Fastify's 1 MiB bodyLimit, any content type, no content type", async () => {
    const { storage } = await openStorage();
    const base = await listen(await createApp(storage, API_KEY));
    const jobs = api(base);
    await jobs.json("POST", "/create", { project_name: "big", job_id: "j1" });

    const content = "a".repeat(3 * 1024 * 1024);
    const big = await jobs.json("POST", "/j1/files", { path: "big.txt", content });
    expect(big).toEqual({ status: 200, body: { success: true, path: "big.txt", size: content.length } });
    expect(await storage.readFile("j1", "big.txt", "utf8")).toBe(content);

    // No Content-Type: Fastify would answer 415 itself; the handler accepts JSON without one.
    const untyped = await fetch(`${base}/api/v1/jobs/j1/files`, {
      method: "POST",
      headers: { "x-api-key": API_KEY },
      body: new Blob([JSON.stringify({ path: "untyped.txt", content: "u" })]),
    });
    expect(await untyped.json()).toEqual({ success: true, path: "untyped.txt", size: 1 });

    // A form post is refused by the handler's own rule (415 with its error body), not by Fastify.
    const form = await jobs.json("POST", "/j1/files", "path=x", { "content-type": "application/x-www-form-urlencoded" });
    expect(form).toEqual({
      status: 415,
      body: { error: { code: "UNSUPPORTED_MEDIA_TYPE", message: "The request body must be JSON (Content-Type: application/json)" } },
    });

    // The handler's 413 on an oversized upload, and the connection still serves the next request.
    const { storage: small } = await openStorage({ maxFileSizeBytes: 1024 });
    const smallBase = await listen(await createApp(small, API_KEY));
    const smallJobs = api(smallBase);
    await smallJobs.json("POST", "/create", { project_name: "small", job_id: "s1" });
    const refused = await smallJobs.json("POST", "/s1/files", { path: "x.txt", content: "x".repeat(2_000_000) });
    expect(refused.status).toBe(413);
    expect(refused.body).toMatchObject({ error: { code: "PAYLOAD_TOO_LARGE" } });
    expect((await smallJobs.json("POST", "/s1/files", { path: "ok.txt", content: "ok" })).body).toEqual({ success: true, path: "ok.txt", size: 2 });
  });

  it("leaves the host's own routes to Fastify's JSON parsing and 404s", async () => {
    const { storage } = await openStorage();
    const base = await listen(await createApp(storage, API_KEY));
    const echo = await fetch(`${base}/echo`, { method: "POST", headers: { "content-type": "application/json" }, body: '{"a":1}' });
    expect(await echo.json()).toEqual({ received: { a: 1 } });
    const outside = await fetch(`${base}/elsewhere`);
    expect(outside.status).toBe(404);
    expect(await outside.json()).toMatchObject({ error: "Not Found" });
    // Inside the prefix, unknown routes are the handler's 404.
    expect(await (await fetch(`${base}/api/v1/jobs/a/b/c`, { headers: { "x-api-key": API_KEY } })).json()).toEqual({
      error: { code: "ROUTE_NOT_FOUND", message: "No such route" },
    });
  });
});

describe("toFastifyPlugin", () => {
  it("works registered without a prefix (its routes are then the handler's prefix)", async () => {
    const { storage } = await openStorage();
    const app = Fastify();
    await app.register(toFastifyPlugin(createJobsHandler(storage, { prefix: "/jobs" })));
    const base = await listen(app);
    const created = await fetch(`${base}/jobs/create`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ project_name: "p", job_id: "p1" }),
    });
    expect(await created.json()).toMatchObject({ job_id: "p1", download_url: null });
    const head = await fetch(`${base}/jobs/p1`, { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(head.headers.get("content-type")).toBe("application/json; charset=utf-8");
  });

  it("refuses a prefix other than the handler's, naming both", async () => {
    const { storage } = await openStorage();
    const app = Fastify();
    apps.push(app);
    app.register(toFastifyPlugin(createJobsHandler(storage)), { prefix: "/v2" });
    const error = await app.ready().then(
      () => undefined,
      (reason: unknown) => reason,
    );
    expect(isJobStorageError(error, "INVALID_INPUT")).toBe(true);
    expect((error as Error).message).toBe(
      'toFastifyPlugin(): registered under prefix "/v2", but the handler serves "/api/v1/jobs": register it with { prefix: handler.prefix } or with no prefix',
    );
  });

  it("imports nothing from fastify at runtime (its import is erased as type-only)", async () => {
    const source = await fs.readFile(new URL("../src/http/fastify-plugin.ts", import.meta.url), "utf8");
    const { outputText } = ts.transpileModule(source, {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: true },
    });
    expect(source).toMatch(/from "fastify"/);
    expect(outputText).not.toMatch(/fastify["']/);
  });
});
