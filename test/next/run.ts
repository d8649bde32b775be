/**
 * `npm run test:next`: the Next.js App Router example, built and run the way a
 * user gets it. Builds and packs the library, installs the packed tarball
 * into a temporary copy of examples/next-app-router, runs `next build` and
 * `next start` on a free port, and drives the design guide's flow over HTTP.
 *
 * Not part of `npm test`: it installs next from the registry and builds an
 * app (minutes, not seconds). Prints `N passed, N failed`; exits non-zero on
 * any failure. Set NEXT_TEST_KEEP=1 to keep the temporary directory.
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { cp, mkdtemp, readFile, readdir, rm, stat, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = resolve(fileURLToPath(new URL("../..", import.meta.url)));
const EXAMPLE = join(ROOT, "examples", "next-app-router");
const READY_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 10_000;
const API_TOKEN = "next-test-agent-token";
const ADMIN_TOKEN = "next-test-admin-token";
const USER = "next-test-user";
/** A message of the library's HTTP handler: found in a file of `.next/server` only if Next bundled the library. */
const LIBRARY_MARKER = "ephemeral-jobs: request failed";

const env = { ...process.env, NEXT_TELEMETRY_DISABLED: "1", CI: "1" };

// ------------------------------------------------------------------ harness

let passed = 0;
let failed = 0;
const timings: string[] = [];

async function step<T>(name: string, run: () => Promise<T>): Promise<T> {
  const started = performance.now();
  try {
    const value = await run();
    passed++;
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    timings.push(`${name}: ${seconds} s`);
    console.log(`ok   ${name} (${seconds} s)`);
    return value;
  } catch (error) {
    failed++;
    console.log(`FAIL ${name}`);
    console.log(error instanceof Error ? (error.stack ?? error.message) : error);
    throw new StepFailed(name);
  }
}

class StepFailed extends Error {}

/** Runs a command to completion, its output shown; rejects on a non-zero exit. */
async function run(command: string, args: string[], cwd: string): Promise<void> {
  const child = spawn(command, args, { cwd, env, stdio: ["ignore", "inherit", "inherit"] });
  const [code, signal] = (await once(child, "exit")) as [number | null, NodeJS.Signals | null];
  if (code !== 0) throw new Error(`${command} ${args.join(" ")} exited with ${code ?? signal}`);
}

/** Runs a command and returns its standard output. */
async function output(command: string, args: string[], cwd: string): Promise<string> {
  const child = spawn(command, args, { cwd, env, stdio: ["ignore", "pipe", "inherit"] });
  let text = "";
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => (text += chunk));
  const [code, signal] = (await once(child, "exit")) as [number | null, NodeJS.Signals | null];
  if (code !== 0) throw new Error(`${command} ${args.join(" ")} exited with ${code ?? signal}`);
  return text;
}

async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const address = server.address();
  server.close();
  await once(server, "close");
  assert.ok(address !== null && typeof address === "object");
  return address.port;
}

/** Stops `next start` and everything it spawned: its whole process group, then SIGKILL if it lingers. */
async function stopServer(server: ChildProcess): Promise<void> {
  if (server.exitCode !== null || server.signalCode !== null || server.pid === undefined) return;
  const exited = once(server, "exit");
  const kill = (signal: NodeJS.Signals): void => {
    try {
      process.kill(-server.pid!, signal);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ESRCH") throw error;
    }
  };
  kill("SIGTERM");
  const timer = setTimeout(() => kill("SIGKILL"), STOP_TIMEOUT_MS);
  await exited;
  clearTimeout(timer);
  kill("SIGKILL"); // any grandchild that outlived the leader
}

/** Polls until the server answers (any HTTP status) or it exits or the deadline passes. */
async function waitUntilAnswering(url: string, server: ChildProcess): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let exited = false;
  server.once("exit", () => (exited = true));
  for (;;) {
    if (exited) throw new Error("next start exited before it answered");
    try {
      await fetch(url, { signal: AbortSignal.timeout(5_000) });
      return;
    } catch (error) {
      if (Date.now() > deadline) throw new Error(`no answer from ${url} within ${READY_TIMEOUT_MS} ms`, { cause: error });
    }
    // The connection was refused or reset: the server is still starting. Try again shortly.
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((entry) => entry.isFile()).map((entry) => join(entry.parentPath, entry.name));
}

// ------------------------------------------------------------------ the flow

interface Api {
  (method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<Response>;
}

function apiFor(origin: string, token: string): Api {
  return (method, path, body, headers = {}) =>
    fetch(`${origin}/api/v1/jobs${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        "x-user-id": USER,
        ...(body === undefined ? {} : { "content-type": "application/json" }),
        ...headers,
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
}

async function json(response: Response, status: number): Promise<Record<string, unknown>> {
  const text = await response.text();
  assert.equal(response.status, status, `expected HTTP ${status}, got ${response.status}: ${text.slice(0, 500)}`);
  assert.match(response.headers.get("content-type") ?? "", /^application\/json/);
  return JSON.parse(text) as Record<string, unknown>;
}

const PLAN = {
  tasks: [
    { name: "Setup project", files: ["package.json"] },
    { name: "Create components", files: ["src/App.tsx", "src/components/deep/Button.tsx"] },
  ],
};
const FILES = [
  { path: "package.json", content: '{\n  "name": "my-react-app"\n}\n' },
  { path: "src/App.tsx", content: 'export const App = () => "hello";\n' },
  { path: "src/components/deep/Button.tsx", content: "export const Button = () => null;\n" },
];

async function driveFlow(origin: string, basePath: string, work: string): Promise<void> {
  const api = apiFor(origin, API_TOKEN);
  const admin = apiFor(origin, ADMIN_TOKEN);
  let jobId = "";

  await step("an unknown token answers 401 UNAUTHORIZED", async () => {
    const body = await json(await apiFor(origin, "wrong")("GET", ""), 401);
    assert.deepEqual(body, { error: { code: "UNAUTHORIZED", message: "Authentication required" } });
  });

  await step("POST /create answers the new job", async () => {
    const body = await json(await api("POST", "/create", { project_name: "my-react-app" }), 200);
    assert.equal(typeof body.job_id, "string");
    jobId = body.job_id as string;
    assert.deepEqual(
      { ...body, job_id: "", created_at: "", expires_at: "" },
      {
        job_id: "",
        user_id: USER,
        project_name: "my-react-app",
        status: "generating",
        files_count: 0,
        total_size_mb: 0,
        total_size_bytes: 0,
        created_at: "",
        expires_at: "",
        zip_ready: false,
        zip_size_bytes: null,
        zip_sha256: null,
        download_url: null,
        s3_url: null,
        error_message: null,
      },
    );
    const hours = (Date.parse(body.expires_at as string) - Date.parse(body.created_at as string)) / 3_600_000;
    assert.equal(hours, 48);
  });

  await step("the job lives on disk under JOBS_BASE_PATH (the route opened a real JobStorageManager)", async () => {
    assert.ok((await stat(join(basePath, jobId))).isDirectory());
    const stats = await json(await admin("GET", "/admin/stats"), 200);
    assert.equal(stats.base_path, basePath);
    assert.equal(stats.job_count, 1);
  });

  await step("POST /{id}/plan stores the plan, GET reads it back", async () => {
    assert.deepEqual(await json(await api("POST", `/${jobId}/plan`, PLAN), 200), { success: true });
    assert.deepEqual(await json(await api("GET", `/${jobId}/plan`), 200), { job_id: jobId, plan: PLAN });
  });

  await step("POST /{id}/files/batch writes every file", async () => {
    const body = await json(await api("POST", `/${jobId}/files/batch`, FILES), 200);
    assert.deepEqual(body, {
      total: 3,
      success: 3,
      failed: 0,
      results: FILES.map((file) => ({ path: file.path, success: true, size: Buffer.byteLength(file.content) })),
    });
  });

  await step("GET / lists the caller's jobs", async () => {
    const body = await json(await api("GET", ""), 200);
    assert.equal(body.count, 1);
    const [job] = body.jobs as Record<string, unknown>[];
    assert.equal(job?.job_id, jobId);
    assert.equal(job?.files_count, 3);
  });

  await step("GET /{id}/files lists the files", async () => {
    const body = await json(await api("GET", `/${jobId}/files`), 200);
    assert.equal(body.job_id, jobId);
    assert.equal(body.count, 3);
    const files = (body.files as { path: string; name: string; size: number }[]).map(({ path, name, size }) => ({ path, name, size }));
    assert.deepEqual(
      files.sort((a, b) => a.path.localeCompare(b.path)),
      FILES.map((file) => ({ path: file.path, name: file.path.split("/").pop(), size: Buffer.byteLength(file.content) })).sort(
        (a, b) => a.path.localeCompare(b.path),
      ),
    );
  });

  await step("GET /{id}/files/{nested path} reads a file", async () => {
    const body = await json(await api("GET", `/${jobId}/files/src/components/deep/Button.tsx`), 200);
    assert.deepEqual(body, { path: FILES[2]!.path, content: FILES[2]!.content });
  });

  await step("GET /{id}/download before completion answers 409 ZIP_NOT_READY", async () => {
    const body = await json(await api("GET", `/${jobId}/download`), 409);
    assert.equal((body.error as { code: string }).code, "ZIP_NOT_READY");
  });

  await step("POST /{id}/complete builds the ZIP", async () => {
    assert.deepEqual(await json(await api("POST", `/${jobId}/complete`), 200), {
      success: true,
      job_id: jobId,
      status: "complete",
      message: "ZIP ready",
      download_url: `/api/v1/jobs/${jobId}/download`,
    });
  });

  await step("GET /{id}/download answers a ZIP that unzip -t accepts, holding every file", async () => {
    const response = await api("GET", `/${jobId}/download`);
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("content-type"), "application/zip");
    assert.match(response.headers.get("content-disposition") ?? "", /^attachment; filename="my-react-app\.zip"/);
    const bytes = Buffer.from(await response.arrayBuffer());
    // Next.js sends a streamed route-handler body chunked and drops the handler's
    // Content-Length; the job's zip_size_bytes is the length to check against.
    const length = response.headers.get("content-length");
    if (length !== null) assert.equal(Number(length), bytes.length);
    const job = await json(await api("GET", `/${jobId}`), 200);
    assert.equal(job.zip_ready, true);
    assert.equal(job.zip_size_bytes, bytes.length);
    const zipPath = join(work, "download.zip");
    await writeFile(zipPath, bytes);
    assert.match(await output("unzip", ["-t", zipPath], work), /No errors detected/);
    const names = (await output("zipinfo", ["-1", zipPath], work)).split("\n").filter((name) => name !== "" && !name.endsWith("/"));
    for (const file of FILES) assert.ok(names.includes(file.path), `${file.path} missing from ${names.join(", ")}`);
  });

  await step("DELETE /{id} removes the job", async () => {
    assert.deepEqual(await json(await api("DELETE", `/${jobId}`), 200), { success: true, message: `Job ${jobId} deleted` });
    const body = await json(await api("GET", `/${jobId}`), 404);
    assert.equal((body.error as { code: string }).code, "JOB_NOT_FOUND");
    await assert.rejects(stat(join(basePath, jobId)), { code: "ENOENT" });
  });
}

// ------------------------------------------------------------------ main

async function main(): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), "ephemeral-jobs-next-"));
  const app = join(work, "app");
  const basePath = join(work, "jobs");
  let server: ChildProcess | undefined;
  const stop = (): void => {
    if (server?.pid !== undefined) {
      try {
        process.kill(-server.pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
  };
  // Interrupted (Ctrl-C, CI timeout): take the server down with us.
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => {
      stop();
      process.exit(130);
    });
  }
  const started = performance.now();
  try {
    await step("build and pack the library", async () => {
      await run("npm", ["run", "build"], ROOT);
      const [packed] = JSON.parse(await output("npm", ["pack", "--json", "--pack-destination", work], ROOT)) as { filename: string }[];
      assert.ok(packed);
      await cp(EXAMPLE, app, {
        recursive: true,
        filter: (source) => {
          const inside = relative(EXAMPLE, source).split(sep)[0];
          return !["node_modules", ".next", "vendor", "next-env.d.ts"].includes(inside ?? "");
        },
      });
      // package.json depends on "file:./vendor/ephemeral-jobs.tgz": the tarball a user would install.
      await cp(join(work, packed.filename), join(app, "vendor", "ephemeral-jobs.tgz"));
      await rm(join(work, packed.filename));
    });

    await step("npm install the example", () => run("npm", ["install", "--no-audit", "--no-fund"], app));

    await step("next build", () => run("npx", ["next", "build"], app));

    await step("tsc --noEmit in the example", () => run("npx", ["tsc", "--noEmit"], app));

    await step("the build loads ephemeral-jobs from node_modules (serverExternalPackages), not a bundled copy", async () => {
      const built = await filesUnder(join(app, ".next", "server"));
      const bundled: string[] = [];
      for (const file of built.filter((name) => name.endsWith(".js"))) {
        if ((await readFile(file, "utf8")).includes(LIBRARY_MARKER)) bundled.push(relative(app, file));
      }
      assert.deepEqual(bundled, [], "the library's code was bundled into the server build");
      // The marker really is in the library, so the check above can fail.
      const library = await readFile(join(app, "node_modules", "ephemeral-jobs", "dist", "http", "handler.js"), "utf8");
      assert.ok(library.includes(LIBRARY_MARKER));
    });

    const port = await freePort();
    const origin = `http://127.0.0.1:${port}`;
    await step(`next start answers on ${origin}`, async () => {
      server = spawn("npx", ["next", "start", "-H", "127.0.0.1", "-p", String(port)], {
        cwd: app,
        env: { ...env, JOBS_BASE_PATH: basePath, JOBS_API_TOKEN: API_TOKEN, JOBS_ADMIN_TOKEN: ADMIN_TOKEN },
        stdio: ["ignore", "inherit", "inherit"],
        detached: true, // its own process group, so one kill reaches next and its workers
      });
      await waitUntilAnswering(`${origin}/`, server);
    });

    await driveFlow(origin, basePath, work);
  } catch (error) {
    if (!(error instanceof StepFailed)) {
      failed++;
      console.log(error);
    }
  } finally {
    if (server) await stopServer(server);
    const total = ((performance.now() - started) / 1000).toFixed(1);
    console.log(`\ntimings: ${timings.join("; ")}; total ${total} s`);
    if (process.env.NEXT_TEST_KEEP === "1") console.log(`kept ${work}`);
    else await rm(work, { recursive: true, force: true });
  }
  console.log(`${passed} passed, ${failed} failed`);
  process.exitCode = failed === 0 ? 0 : 1;
}

await main();
