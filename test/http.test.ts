import { createHash } from "node:crypto";
import { describe, expect, it, vi } from "vitest";
import yauzl from "yauzl";
import { JOB_STORAGE_ERROR_CODES, JobStorageError, type JobStorageErrorCode, type JobStorageManager } from "../src/index.js";
import {
  HTTP_STATUS_BY_CODE,
  createJobsHandler,
  statusForErrorCode,
  type JobsAuth,
  type JobsHandlerOptions,
} from "../src/http/index.js";
import { fakeClock, openStorage } from "./helpers/temp.js";

const ORIGIN = "http://jobs.test";
const PREFIX = "/api/v1/jobs";
type Json = Record<string, unknown>;
const sha256 = (content: string | Buffer): string => createHash("sha256").update(content).digest("hex");

/** Users by bearer token. */
const USERS: Record<string, JobsAuth> = {
  alice: { userId: "alice" },
  bob: { userId: "bob" },
  root: { userId: "root", admin: true },
};
const authorize = (request: Request): JobsAuth => {
  const token = request.headers.get("authorization")?.replace(/^Bearer /, "") ?? "";
  const user = USERS[token];
  if (!user) throw new Error("no such token");
  return user;
};

interface CallOptions {
  as?: string | null;
  body?: unknown;
  raw?: BodyInit;
  headers?: Record<string, string>;
}

async function setup(storageOptions: Parameters<typeof openStorage>[0] = {}, handlerOptions: JobsHandlerOptions = {}) {
  const { storage, basePath } = await openStorage(storageOptions);
  const handler = createJobsHandler(storage, { authorize, ...handlerOptions });
  const call = async (method: string, path: string, options: CallOptions = {}): Promise<Response> => {
    const headers: Record<string, string> = { ...options.headers };
    const as = options.as === undefined ? "alice" : options.as;
    if (as !== null) headers.authorization = `Bearer ${as}`;
    let body = options.raw;
    if (options.body !== undefined) {
      body = JSON.stringify(options.body);
      headers["content-type"] ??= "application/json";
    }
    return handler(new Request(`${ORIGIN}${PREFIX}${path}`, { method, headers, body }));
  };
  const json = async (method: string, path: string, options: CallOptions = {}): Promise<{ status: number; body: Json; text: string }> => {
    const response = await call(method, path, options);
    const text = await response.text();
    return { status: response.status, body: JSON.parse(text) as Json, text };
  };
  const createJob = async (jobId: string, as = "alice", projectName = "my-react-app"): Promise<Json> => {
    const { status, body } = await json("POST", "/create", { as, body: { project_name: projectName, job_id: jobId } });
    expect(status).toBe(200);
    return body;
  };
  return { storage, basePath, handler, call, json, createJob };
}

function expectError(result: { status: number; body: Json }, status: number, code: string): void {
  expect(result, JSON.stringify(result.body)).toMatchObject({ status, body: { error: { code } } });
  expect(Object.keys(result.body)).toEqual(["error"]);
  expect(typeof (result.body.error as Json).message).toBe("string");
}

/** Entries of a ZIP (name -> content and Unix mode), read back with yauzl. */
function readZip(buffer: Buffer): Promise<Map<string, { content: string; mode: number }>> {
  return new Promise((resolve, reject) => {
    yauzl.fromBuffer(buffer, { lazyEntries: true }, (error, zip) => {
      if (error || !zip) return reject(error ?? new Error("no zip"));
      const entries = new Map<string, { content: string; mode: number }>();
      zip.on("error", reject);
      zip.on("end", () => resolve(entries));
      zip.on("entry", (entry: yauzl.Entry) => {
        zip.openReadStream(entry, (streamError, stream) => {
          if (streamError || !stream) return reject(streamError ?? new Error("no stream"));
          const chunks: Buffer[] = [];
          stream.on("data", (chunk: Buffer) => chunks.push(chunk));
          stream.on("error", reject);
          stream.on("end", () => {
            entries.set(entry.fileName, {
              content: Buffer.concat(chunks).toString("utf8"),
              mode: (entry.externalFileAttributes >>> 16) & 0o777,
            });
            zip.readEntry();
          });
        });
      });
      zip.readEntry();
    });
  });
}

describe("POST /create", () => {
  it("creates a job for the caller and answers the guide's snake_case shape", async () => {
    const clock = fakeClock();
    const { json } = await setup({ now: clock.now });
    const { status, body } = await json("POST", "/create", { body: { project_name: "my-react-app", job_id: "abc123" } });
    expect(status).toBe(200);
    expect(body).toEqual({
      job_id: "abc123",
      user_id: "alice",
      project_name: "my-react-app",
      status: "generating",
      files_count: 0,
      total_size_mb: 0,
      total_size_bytes: 0,
      created_at: "2026-01-01T00:00:00.000Z",
      expires_at: "2026-01-03T00:00:00.000Z",
      zip_ready: false,
      zip_size_bytes: null,
      zip_sha256: null,
      download_url: null,
      s3_url: null,
      error_message: null,
    });
  });

  it("generates an id when job_id is absent or null, and honours ttl_hours", async () => {
    const clock = fakeClock();
    const { json } = await setup({ now: clock.now });
    const generated = await json("POST", "/create", { body: { project_name: "x", job_id: null, ttl_hours: 2 } });
    expect(generated.status).toBe(200);
    expect(generated.body.job_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(generated.body.expires_at).toBe("2026-01-01T02:00:00.000Z");
  });

  it("ignores a user_id in the body: the owner is who authorize says", async () => {
    const { json } = await setup();
    const { body } = await json("POST", "/create", { as: "bob", body: { project_name: "x", user_id: "alice" } });
    expect(body.user_id).toBe("bob");
  });

  it.each([
    ["no project_name", { job_id: "a1" }, "INVALID_INPUT", "project_name"],
    ["an empty project_name", { project_name: "" }, "INVALID_INPUT", "project_name"],
    ["a negative ttl_hours", { project_name: "x", ttl_hours: -1 }, "INVALID_INPUT", "ttl_hours"],
    ["a string ttl_hours", { project_name: "x", ttl_hours: "2" }, "INVALID_INPUT", "ttl_hours"],
    ["a job_id with a slash", { project_name: "x", job_id: "a/b" }, "INVALID_JOB_ID", ""],
    ["a job_id of '..'", { project_name: "x", job_id: ".." }, "INVALID_JOB_ID", ""],
    ["the reserved id 'admin'", { project_name: "x", job_id: "admin" }, "INVALID_JOB_ID", "reserved"],
    ["the reserved id 'create'", { project_name: "x", job_id: "create" }, "INVALID_JOB_ID", "reserved"],
    ["an array", [], "INVALID_INPUT", ""],
  ])("answers 400 for %s", async (_name, body, code, mentions) => {
    const { json } = await setup();
    const result = await json("POST", "/create", { body });
    expectError(result, 400, code);
    expect((result.body.error as Json).message).toContain(mentions);
  });

  it("answers 409 JOB_EXISTS for an id that is taken (by anyone)", async () => {
    const { json, createJob } = await setup();
    await createJob("taken", "bob");
    expectError(await json("POST", "/create", { body: { project_name: "x", job_id: "taken" } }), 409, "JOB_EXISTS");
  });

  it("answers 400 INVALID_JSON for a malformed, empty or non-UTF-8 body", async () => {
    const { json } = await setup();
    const headers = { "content-type": "application/json" };
    expectError(await json("POST", "/create", { raw: "{ nope", headers }), 400, "INVALID_JSON");
    expectError(await json("POST", "/create", { raw: "", headers }), 400, "INVALID_JSON");
    expectError(await json("POST", "/create", { raw: new Uint8Array([0x7b, 0xff, 0x7d]), headers }), 400, "INVALID_JSON");
  });

  it("answers 415 for a body that is not declared JSON, and accepts a missing or +json Content-Type", async () => {
    const { json } = await setup();
    const payload = JSON.stringify({ project_name: "x" });
    expectError(await json("POST", "/create", { raw: payload, headers: { "content-type": "text/plain" } }), 415, "UNSUPPORTED_MEDIA_TYPE");
    expectError(
      await json("POST", "/create", { raw: "project_name=x", headers: { "content-type": "application/x-www-form-urlencoded" } }),
      415,
      "UNSUPPORTED_MEDIA_TYPE",
    );
    const blob = new Blob([payload]); // a Blob without a type sends no Content-Type
    expect((await json("POST", "/create", { raw: blob })).status).toBe(200);
    expect((await json("POST", "/create", { raw: payload, headers: { "content-type": "application/vnd.api+json; charset=utf-8" } })).status).toBe(200);
  });
});

describe("GET /{id} and ownership", () => {
  it("answers the job, and 404 for a missing one", async () => {
    const { json, createJob } = await setup();
    const created = await createJob("j1");
    const { status, body } = await json("GET", "/j1");
    expect(status).toBe(200);
    expect(body).toEqual(created);
    expectError(await json("GET", "/nope"), 404, "JOB_NOT_FOUND");
  });

  it("answers 400 INVALID_JOB_ID for an id that cannot be one", async () => {
    const { json } = await setup();
    expectError(await json("GET", "/bad%20id"), 400, "INVALID_JOB_ID");
    expectError(await json("GET", "/%E0%A4%A"), 400, "INVALID_JOB_ID");
  });

  it("hides another user's job on every route exactly like a missing one; an admin sees it", async () => {
    const { json, call, createJob } = await setup();
    await createJob("alices");
    const routes: [string, string, unknown?][] = [
      ["GET", "/alices"],
      ["DELETE", "/alices"],
      ["GET", "/alices/plan"],
      ["POST", "/alices/plan", { tasks: [] }],
      ["GET", "/alices/files"],
      ["POST", "/alices/files", { path: "a.txt", content: "x" }],
      ["POST", "/alices/files/batch", [{ path: "a.txt", content: "x" }]],
      ["GET", "/alices/files/a.txt"],
      ["DELETE", "/alices/files/a.txt"],
      ["POST", "/alices/complete"],
      ["GET", "/alices/download"],
      ["POST", "/alices/fail?error_message=x"],
      ["POST", "/alices/extend", { ttl_hours: 1 }],
    ];
    for (const [method, path, body] of routes) {
      const asBob = await json(method, path, { as: "bob", body });
      const missing = await json(method, path.replace("alices", "missing"), { as: "bob", body });
      expectError(asBob, 404, "JOB_NOT_FOUND");
      expect(asBob.text.replaceAll("alices", "missing")).toBe(missing.text);
    }
    expect((await json("GET", "/alices", { as: "root" })).status).toBe(200);
    expect((await call("GET", "/alices/files", { as: "root" })).status).toBe(200);
    expect((await json("GET", "/alices")).status).toBe(200); // nothing above changed it
  });

  it("lists the caller's own jobs at the prefix root; an admin lists everyone's", async () => {
    const { json, createJob } = await setup();
    await createJob("a1", "alice");
    await createJob("b1", "bob");
    const mine = await json("GET", "");
    expect(mine.status).toBe(200);
    expect((mine.body.jobs as Json[]).map((job) => job.job_id)).toEqual(["a1"]);
    expect(mine.body.count).toBe(1);
    const all = await json("GET", "/", { as: "root" });
    expect((all.body.jobs as Json[]).map((job) => job.job_id).sort()).toEqual(["a1", "b1"]);
    const bobs = await json("GET", "?user_id=bob", { as: "root" });
    expect((bobs.body.jobs as Json[]).map((job) => job.job_id)).toEqual(["b1"]);
    const sneaky = await json("GET", "?user_id=bob", { as: "alice" });
    expect((sneaky.body.jobs as Json[]).map((job) => job.job_id)).toEqual(["a1"]);
    expectError(await json("GET", "?status=weird"), 400, "INVALID_INPUT");
  });
});

describe("plan and files", () => {
  it("writes and reads the plan", async () => {
    const { json, createJob } = await setup();
    await createJob("j1");
    expect((await json("GET", "/j1/plan")).body).toEqual({ job_id: "j1", plan: null });
    const plan = {
      tasks: [
        { name: "Setup", files: ["package.json"] },
        { name: "Components", files: ["src/App.tsx"] },
      ],
      metadata: { framework: "react", language: "typescript" },
    };
    const written = await json("POST", "/j1/plan", { body: plan });
    expect(written).toMatchObject({ status: 200, body: { success: true } });
    expect((await json("GET", "/j1/plan")).body).toEqual({ job_id: "j1", plan });
  });

  it("answers 400 for an invalid plan, naming the field", async () => {
    const { json, createJob } = await setup();
    await createJob("j1");
    const result = await json("POST", "/j1/plan", { body: { tasks: [{ name: "x", files: ["../etc/passwd"] }] } });
    expectError(result, 400, "INVALID_INPUT");
    expect((result.body.error as Json).message).toContain("tasks.0.files.0");
  });

  it("writes a file (text, base64, executable) and reads it back", async () => {
    const { json, storage, createJob } = await setup();
    await createJob("j1");
    const text = await json("POST", "/j1/files", { body: { path: "./src//App.tsx", content: "export default 1;\n" } });
    expect(text).toMatchObject({ status: 200, body: { success: true, path: "src/App.tsx", size: 18 } });
    const bytes = Buffer.from([0, 1, 2, 255]);
    const binary = await json("POST", "/j1/files", { body: { path: "logo.png", content: bytes.toString("base64"), encoding: "base64" } });
    expect(binary.body).toEqual({ success: true, path: "logo.png", size: 4 });
    expect(await storage.readFile("j1", "logo.png")).toEqual(bytes);
    await json("POST", "/j1/files", { body: { path: "bin/run", content: "#!/bin/sh\n", executable: true } });

    expect((await json("GET", "/j1/files/src/App.tsx")).body).toEqual({ path: "src/App.tsx", content: "export default 1;\n" });
    expect((await json("GET", "/j1/files/logo.png?encoding=base64")).body).toEqual({
      path: "logo.png",
      content: "AAEC/w==",
      encoding: "base64",
    });
    expectError(await json("GET", "/j1/files/logo.png?encoding=hex"), 400, "INVALID_INPUT");
    expectError(await json("POST", "/j1/files", { body: { path: "x", content: "not base64!", encoding: "base64" } }), 400, "INVALID_INPUT");
    expectError(await json("POST", "/j1/files", { body: { path: "x" } }), 400, "INVALID_INPUT");
    expectError(await json("POST", "/j1/files", { body: { path: "x", content: 5 } }), 400, "INVALID_INPUT");
  });

  it("rejects a hostile path in a body with 400 INVALID_PATH and writes nothing", async () => {
    const { json, storage, createJob } = await setup();
    await createJob("j1");
    for (const path of ["../../etc/passwd", "/etc/passwd", "C:\\x", "a\\..\\b", "src/\u0000.ts", "CON.txt", "x/../y", ""]) {
      expectError(await json("POST", "/j1/files", { body: { path, content: "x" } }), 400, "INVALID_PATH");
    }
    expect(await storage.listFiles("j1")).toEqual([]);
  });

  it("writes a batch given as an array or as { files }, with per-file results", async () => {
    const { json, createJob } = await setup();
    await createJob("j1");
    const array = await json("POST", "/j1/files/batch", {
      body: [
        { path: "package.json", content: "{}" },
        { path: "src/index.tsx", content: "a" },
        { path: "../escape", content: "b" },
      ],
    });
    expect(array.status).toBe(200);
    expect(array.body).toEqual({
      total: 3,
      success: 2,
      failed: 1,
      results: [
        { path: "package.json", success: true, size: 2 },
        { path: "src/index.tsx", success: true, size: 1 },
        { path: "../escape", success: false, error: { code: "INVALID_PATH", message: expect.any(String) } },
      ],
    });
    const wrapped = await json("POST", "/j1/files/batch", { body: { files: [{ path: "src/App.tsx", content: "x" }] } });
    expect(wrapped.body).toMatchObject({ total: 1, success: 1, failed: 0 });
    expectError(await json("POST", "/j1/files/batch", { body: { nope: [] } }), 400, "INVALID_INPUT");
  });

  it("lists files as { job_id, files: [{ path, name, size, modified }], count }", async () => {
    const { json, createJob } = await setup();
    await createJob("j1");
    await json("POST", "/j1/files/batch", {
      body: [
        { path: "src/App.tsx", content: "12345" },
        { path: ".gitignore", content: "node_modules\n" },
        { path: "plan.json", content: "{}" },
      ],
    });
    const { status, body } = await json("GET", "/j1/files");
    expect(status).toBe(200);
    expect(body).toEqual({
      job_id: "j1",
      files: [
        { path: ".gitignore", name: ".gitignore", size: 13, modified: expect.stringMatching(/^\d{4}-\d\d-\d\dT/), sha256: sha256("node_modules\n") },
        { path: "plan.json", name: "plan.json", size: 2, modified: expect.any(String), sha256: sha256("{}") },
        { path: "src/App.tsx", name: "App.tsx", size: 5, modified: expect.any(String), sha256: sha256("12345") },
      ],
      count: 3,
    });
  });

  it("answers 404 FILE_NOT_FOUND for a missing file, and deletes one", async () => {
    const { json, createJob } = await setup();
    await createJob("j1");
    expectError(await json("GET", "/j1/files/nope.txt"), 404, "FILE_NOT_FOUND");
    await json("POST", "/j1/files", { body: { path: "a/b.txt", content: "x" } });
    expect((await json("DELETE", "/j1/files/a/b.txt")).body).toEqual({ success: true, path: "a/b.txt" });
    expectError(await json("DELETE", "/j1/files/a/b.txt"), 404, "FILE_NOT_FOUND");
    expect((await json("GET", "/j1")).body.files_count).toBe(0);
  });

  it("serves a file literally named 'batch' on GET, while POST /files/batch is the batch", async () => {
    const { json, createJob } = await setup();
    await createJob("j1");
    await json("POST", "/j1/files", { body: { path: "batch", content: "literal" } });
    expect((await json("GET", "/j1/files/batch")).body).toEqual({ path: "batch", content: "literal" });
  });
});

describe("percent-decoding of URL paths (exactly once)", () => {
  it("decodes a file path once before validating it", async () => {
    const { json, createJob } = await setup();
    await createJob("j1");
    await json("POST", "/j1/files/batch", {
      body: [
        { path: "src/app/[id]/page.tsx", content: "page" },
        { path: "src/app/(marketing)/layout.tsx", content: "layout" },
        { path: "file with spaces.md", content: "spaces" },
        { path: "docs/Ünïcödé 文件.md", content: "unicode" },
        { path: "%2e%2e/literal.txt", content: "percent" },
        { path: "100%.txt", content: "hundred" },
      ],
    });
    const read = async (urlPath: string) => (await json("GET", `/j1/files/${urlPath}`)).body;
    expect(await read("src/app/%5Bid%5D/page.tsx")).toEqual({ path: "src/app/[id]/page.tsx", content: "page" });
    expect(await read("src/app/[id]/page.tsx")).toEqual({ path: "src/app/[id]/page.tsx", content: "page" });
    expect(await read("src/app/(marketing)/layout.tsx")).toMatchObject({ content: "layout" });
    expect(await read("file%20with%20spaces.md")).toMatchObject({ content: "spaces" });
    expect(await read(encodeURIComponent("docs/Ünïcödé 文件.md"))).toMatchObject({ content: "unicode" });
    expect(await read("src%2Fapp%2F%5Bid%5D%2Fpage.tsx")).toMatchObject({ content: "page" }); // %2F is a '/'
    // %252e decodes once to the literal "%2e", which names the file called "%2e%2e".
    expect(await read("%252e%252e/literal.txt")).toEqual({ path: "%2e%2e/literal.txt", content: "percent" });
    expect(await read("100%25.txt")).toMatchObject({ content: "hundred" });
  });

  it.each([
    ["%2e%2e%2fetc%2fpasswd", 400, "INVALID_PATH"], // ../etc/passwd after one decoding
    ["..%2f..%2fetc%2fpasswd", 400, "INVALID_PATH"],
    ["a/%2e%2e%2f%2e%2e%2f%2e%2e%2fetc", 400, "INVALID_PATH"],
    ["%2fetc%2fpasswd", 400, "INVALID_PATH"], // absolute
    ["..%5c..%5cwindows%5cwin.ini", 400, "INVALID_PATH"], // backslashes
    ["C:%5cboot.ini", 400, "INVALID_PATH"],
    ["%5c%5cserver%5cshare", 400, "INVALID_PATH"],
    ["a%00.txt", 400, "INVALID_PATH"],
    ["a%0d%0aSet-Cookie:%20x", 400, "INVALID_PATH"],
    ["CON", 400, "INVALID_PATH"],
    ["nul.txt", 400, "INVALID_PATH"],
    ["trailing.%20", 400, "INVALID_PATH"],
    ["%E0%A4%A", 400, "INVALID_PATH"], // malformed percent-encoding
    ["%ED%A0%80", 400, "INVALID_PATH"], // a lone surrogate
    ["dir/", 400, "INVALID_PATH"],
    ["%252e%252e%252fetc%252fpasswd", 404, "FILE_NOT_FOUND"], // one decoding leaves a literal, harmless name
  ])("GET /files/%s answers %i %s", async (urlPath, status, code) => {
    const { json, createJob } = await setup();
    await createJob("j1");
    expectError(await json("GET", `/j1/files/${urlPath}`), status, code);
  });

  it("cannot reach outside the job through dot segments the URL parser resolves", async () => {
    const { json, createJob } = await setup();
    await createJob("j1");
    await createJob("other", "bob");
    await json("POST", "/other/files", { as: "bob", body: { path: "secret.txt", content: "bob's" } });
    // The WHATWG URL parser resolves ".." and "%2e%2e" segments before the handler sees them.
    for (const path of ["/j1/files/../../other/files/secret.txt", "/j1/files/%2e%2e/%2e%2e/other/files/secret.txt"]) {
      const result = await json("GET", path);
      expectError(result, 404, "JOB_NOT_FOUND"); // resolves to /other/files/secret.txt: bob's job, hidden
      expect(result.text).not.toContain("bob's");
    }
  });
});

describe("complete, download, fail, delete", () => {
  it("completes into a ZIP whose download has the right headers and unzips to the files", async () => {
    const { json, call, createJob } = await setup();
    await createJob("j1", "alice", 'my "react"\r\napp');
    expectError(await json("GET", "/j1/download"), 409, "ZIP_NOT_READY");
    await json("POST", "/j1/files/batch", {
      body: [
        { path: "package.json", content: '{"name":"x"}' },
        { path: "src/App.tsx", content: "export default 1;\n" },
        { path: ".env.example", content: "A=1\n" },
        { path: "bin/run", content: "#!/bin/sh\necho hi\n", executable: true },
      ],
    });
    const completed = await json("POST", "/j1/complete");
    expect(completed.status).toBe(200);
    expect(completed.body).toEqual({
      success: true,
      job_id: "j1",
      status: "complete",
      message: expect.any(String),
      download_url: "/api/v1/jobs/j1/download",
    });
    const job = (await json("GET", "/j1")).body;
    expect(job).toMatchObject({ status: "complete", zip_ready: true, files_count: 4, download_url: "/api/v1/jobs/j1/download" });
    expect(job.zip_size_bytes).toBeGreaterThan(0);

    const response = await call("GET", "/j1/download");
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("application/zip");
    const disposition = response.headers.get("content-disposition")!;
    expect(disposition).toMatch(/^attachment; filename="/);
    expect(disposition).not.toMatch(/[\r\n]/);
    const bytes = Buffer.from(await response.arrayBuffer());
    expect(Number(response.headers.get("content-length"))).toBe(bytes.length);
    expect(bytes.length).toBe(job.zip_size_bytes);
    const entries = await readZip(bytes);
    expect([...entries.keys()].sort()).toEqual([".env.example", "bin/run", "package.json", "src/App.tsx"]);
    expect(entries.get("src/App.tsx")?.content).toBe("export default 1;\n");
    expect(entries.get("bin/run")?.mode).toBe(0o755);

    const head = await call("HEAD", "/j1/download");
    expect(head.status).toBe(200);
    expect(head.headers.get("content-length")).toBe(String(bytes.length));
    expect(head.body).toBeNull();

    // A complete job takes no more writes.
    expectError(await json("POST", "/j1/files", { body: { path: "late.txt", content: "x" } }), 409, "INVALID_STATE");
    expectError(await json("POST", "/j1/fail?error_message=x"), 409, "INVALID_STATE");
  });

  it("uses the manager's downloadUrl when it has one", async () => {
    const { json, createJob } = await setup({ downloadUrl: (jobId) => `https://cdn.example/${jobId}.zip` });
    await createJob("j1");
    expect((await json("POST", "/j1/complete")).body.download_url).toBe("https://cdn.example/j1.zip");
    expect((await json("GET", "/j1")).body.download_url).toBe("https://cdn.example/j1.zip");
  });

  it("fails a job with ?error_message= (or a JSON body) and then refuses writes", async () => {
    const { json, createJob } = await setup();
    await createJob("j1");
    await createJob("j2");
    const failed = await json("POST", "/j1/fail?error_message=Generation%20failed");
    expect(failed.status).toBe(200);
    expect(failed.body).toEqual({ success: true, job_id: "j1", status: "failed" });
    expect((await json("GET", "/j1")).body).toMatchObject({ status: "failed", error_message: "Generation failed" });
    expectError(await json("POST", "/j1/files", { body: { path: "a", content: "x" } }), 409, "INVALID_STATE");
    expectError(await json("POST", "/j1/complete"), 409, "INVALID_STATE");
    expectError(await json("GET", "/j1/download"), 409, "ZIP_NOT_READY");

    expectError(await json("POST", "/j2/fail"), 400, "INVALID_INPUT");
    expect((await json("POST", "/j2/fail", { body: { error_message: "from body" } })).status).toBe(200);
    expect((await json("GET", "/j2")).body.error_message).toBe("from body");
  });

  it("deletes a job (keep_zip optional), then answers 404", async () => {
    const { json, storage, basePath, createJob } = await setup();
    await createJob("j1");
    await json("POST", "/j1/complete");
    expectError(await json("DELETE", "/j1?keep_zip=maybe"), 400, "INVALID_INPUT");
    const deleted = await json("DELETE", "/j1?keep_zip=true");
    expect(deleted).toEqual({ status: 200, body: { success: true, message: "Job j1 deleted" }, text: expect.any(String) });
    expect(await storage.getJob("j1")).toBeUndefined();
    const { readdir } = await import("node:fs/promises");
    expect((await readdir(basePath)).some((name) => name.startsWith("j1") && name.endsWith(".zip"))).toBe(true);
    expectError(await json("DELETE", "/j1"), 404, "JOB_NOT_FOUND");
    expectError(await json("GET", "/j1"), 404, "JOB_NOT_FOUND");
  });

  it("extends a job's expiry", async () => {
    const clock = fakeClock();
    const { json, createJob } = await setup({ now: clock.now });
    await createJob("j1");
    clock.advanceHours(10);
    const extended = await json("POST", "/j1/extend", { body: { ttl_hours: 48 } });
    expect(extended.body.expires_at).toBe("2026-01-03T10:00:00.000Z");
    expectError(await json("POST", "/j1/extend", { body: { ttl_hours: -5 } }), 400, "INVALID_INPUT");
  });
});

describe("expiry", () => {
  it("shows an expired job as expired, answers 410 to writes and downloads", async () => {
    const clock = fakeClock();
    const { json, createJob } = await setup({ now: clock.now, expiryHours: 1 });
    await createJob("j1");
    await createJob("j2");
    await json("POST", "/j2/complete");
    clock.advanceHours(2);
    expect((await json("GET", "/j1")).body.status).toBe("expired");
    expectError(await json("POST", "/j1/files", { body: { path: "a", content: "x" } }), 410, "JOB_EXPIRED");
    expectError(await json("POST", "/j1/plan", { body: { tasks: [] } }), 410, "JOB_EXPIRED");
    expectError(await json("POST", "/j1/complete"), 410, "JOB_EXPIRED");
    expectError(await json("GET", "/j2/download"), 410, "JOB_EXPIRED");
  });
});

describe("admin routes", () => {
  it("answers stats in the guide's names to an admin, 403 to others", async () => {
    const { json, basePath, createJob } = await setup({ expiryHours: 48 });
    await createJob("j1");
    await json("POST", "/j1/files", { body: { path: "a.txt", content: "hello" } });
    expectError(await json("GET", "/admin/stats"), 403, "FORBIDDEN");
    const { status, body } = await json("GET", "/admin/stats", { as: "root" });
    expect(status).toBe(200);
    expect(body).toMatchObject({
      base_path: basePath,
      job_count: 1,
      file_count: 1,
      total_size_mb: expect.any(Number),
      expiry_hours: 48,
      jobs_by_status: { generating: 1, complete: 0, failed: 0, expired: 0 },
    });
    expect(body.total_size_bytes).toBeGreaterThan(5);
    expect(body.disk_free_bytes).toBeGreaterThan(0);
  });

  it("runs a cleanup for an admin and answers cleaned_jobs as a count", async () => {
    const clock = fakeClock();
    const { json, storage, createJob } = await setup({ now: clock.now, expiryHours: 1 });
    await createJob("old1");
    await createJob("old2");
    clock.advanceHours(2);
    await createJob("fresh");
    expectError(await json("POST", "/admin/cleanup"), 403, "FORBIDDEN");
    const dry = await json("POST", "/admin/cleanup?dry_run=true", { as: "root" });
    expect(dry.body).toMatchObject({ success: true, cleaned_jobs: 2, dry_run: true });
    expect(await storage.getJob("old1")).toBeDefined();
    const { status, body } = await json("POST", "/admin/cleanup", { as: "root" });
    expect(status).toBe(200);
    expect(body).toMatchObject({ success: true, cleaned_jobs: 2, cleaned_job_ids: ["old1", "old2"], dry_run: false });
    expect(await storage.getJob("old1")).toBeUndefined();
    expect(await storage.getJob("fresh")).toBeDefined();
  });

  it("answers 404 for an unknown admin route", async () => {
    const { json } = await setup();
    expectError(await json("GET", "/admin/nope", { as: "root" }), 404, "ROUTE_NOT_FOUND");
    expectError(await json("GET", "/admin", { as: "root" }), 404, "ROUTE_NOT_FOUND");
  });
});

describe("authentication", () => {
  it("answers 401 when authorize throws, rejects or resolves nothing usable", async () => {
    for (const bad of [
      () => {
        throw new Error("nope");
      },
      () => Promise.reject(new Error("nope")),
      () => ({ userId: "" }),
      () => undefined as unknown as JobsAuth,
    ]) {
      const { json } = await setup({}, { authorize: bad });
      expectError(await json("POST", "/create", { body: { project_name: "x" } }), 401, "UNAUTHORIZED");
      expectError(await json("GET", "/admin/stats"), 401, "UNAUTHORIZED");
    }
    const { json } = await setup();
    expectError(await json("GET", "/anything", { as: null }), 401, "UNAUTHORIZED");
    expectError(await json("GET", "/anything", { as: "mallory" }), 401, "UNAUTHORIZED");
  });

  it("checks authentication before reading the body", async () => {
    const { json } = await setup();
    expectError(await json("POST", "/create", { as: null, raw: "{ not json", headers: { "content-type": "application/json" } }), 401, "UNAUTHORIZED");
  });

  it("without authorize, everyone is the non-admin user 'anonymous'", async () => {
    const { storage } = await openStorage();
    const handler = createJobsHandler(storage);
    const create = await handler(
      new Request(`${ORIGIN}${PREFIX}/create`, { method: "POST", headers: { "content-type": "application/json" }, body: '{"project_name":"x"}' }),
    );
    expect(((await create.json()) as Json).user_id).toBe("anonymous");
    const stats = await handler(new Request(`${ORIGIN}${PREFIX}/admin/stats`));
    expect(stats.status).toBe(403);
  });
});

describe("routing", () => {
  it("answers 404 ROUTE_NOT_FOUND for unknown routes and paths outside the prefix", async () => {
    const { json, handler, createJob } = await setup();
    await createJob("j1");
    expectError(await json("GET", "/j1/nope"), 404, "ROUTE_NOT_FOUND");
    expectError(await json("GET", "/j1/"), 404, "ROUTE_NOT_FOUND");
    expectError(await json("GET", "/j1/plan/extra"), 404, "ROUTE_NOT_FOUND");
    expectError(await json("GET", "/j1/constructor"), 404, "ROUTE_NOT_FOUND");
    const outside = await handler(new Request(`${ORIGIN}/api/v1/jobsX/create`));
    expect(outside.status).toBe(404);
    expect(((await outside.json()) as { error: Json }).error.code).toBe("ROUTE_NOT_FOUND");
  });

  it("answers 405 with an Allow header for a wrong method", async () => {
    const { call } = await setup();
    for (const [method, path, allow] of [
      ["GET", "/create", "POST"],
      ["PUT", "/j1", "GET, DELETE, HEAD"],
      ["DELETE", "/j1/complete", "POST"],
      ["POST", "/j1/download", "GET, HEAD"],
      ["POST", "/admin/stats", "GET, HEAD"],
      ["PATCH", "/j1/files/a.txt", "GET, DELETE, HEAD"],
    ] as const) {
      const response = await call(method, path);
      expect(response.status, `${method} ${path}`).toBe(405);
      expect(response.headers.get("allow")).toBe(allow);
      expect(((await response.json()) as { error: Json }).error.code).toBe("METHOD_NOT_ALLOWED");
    }
  });

  it("serves another prefix (trailing slash ignored) and the root", async () => {
    const { storage } = await openStorage();
    const custom = createJobsHandler(storage, { prefix: "/jobs/", authorize });
    expect(custom.prefix).toBe("/jobs");
    const created = await custom(
      new Request(`${ORIGIN}/jobs/create`, {
        method: "POST",
        headers: { authorization: "Bearer alice", "content-type": "application/json" },
        body: '{"project_name":"x","job_id":"j9"}',
      }),
    );
    expect(created.status).toBe(200);
    await custom(new Request(`${ORIGIN}/jobs/j9/complete`, { method: "POST", headers: { authorization: "Bearer alice" } }));
    const job = (await (await custom(new Request(`${ORIGIN}/jobs/j9`, { headers: { authorization: "Bearer alice" } }))).json()) as Json;
    expect(job.download_url).toBe("/jobs/j9/download");
    const root = createJobsHandler(storage, { prefix: "/", authorize });
    expect(root.prefix).toBe("");
    expect((await root(new Request(`${ORIGIN}/j9`, { headers: { authorization: "Bearer alice" } }))).status).toBe(200);
  });

  it("refuses bad options, naming them", async () => {
    const { storage } = await openStorage();
    expect(() => createJobsHandler(storage, { prefix: "api" })).toThrow(/prefix/);
    expect(() => createJobsHandler(storage, { maxBodyBytes: -1 })).toThrow(/maxBodyBytes/);
    expect(() => createJobsHandler(storage, { authorize: "yes" as unknown as JobsHandlerOptions["authorize"] })).toThrow(/authorize/);
    expect(() => createJobsHandler({} as JobStorageManager)).toThrow(/JobStorageManager/);
  });
});

describe("size limits", () => {
  it("answers 413 FILE_TOO_LARGE and PROJECT_TOO_LARGE from the manager", async () => {
    const { json, createJob } = await setup({ maxFileSizeBytes: 100, maxProjectSizeBytes: 150 });
    await createJob("j1");
    const tooBig = await json("POST", "/j1/files", { body: { path: "big.txt", content: "x".repeat(101) } });
    expectError(tooBig, 413, "FILE_TOO_LARGE");
    expect((await json("POST", "/j1/files", { body: { path: "a.txt", content: "x".repeat(100) } })).status).toBe(200);
    expectError(await json("POST", "/j1/files", { body: { path: "b.txt", content: "x".repeat(100) } }), 413, "PROJECT_TOO_LARGE");
  });

  it("answers 413 PAYLOAD_TOO_LARGE for a declared Content-Length over maxBodyBytes", async () => {
    const { json, createJob } = await setup({}, { maxBodyBytes: 1000 });
    await createJob("j1");
    const result = await json("POST", "/j1/files", { body: { path: "a.txt", content: "x".repeat(2000) } });
    expectError(result, 413, "PAYLOAD_TOO_LARGE");
    expect((await json("POST", "/j1/files", { body: { path: "a.txt", content: "x".repeat(500) } })).status).toBe(200);
  });

  it("stops reading a streamed body without Content-Length as soon as it passes the limit", async () => {
    const { handler, createJob } = await setup({}, { maxBodyBytes: 64 * 1024 });
    await createJob("j1");
    let pulled = 0;
    const endless = new ReadableStream<Uint8Array>({
      pull(controller) {
        pulled += 1;
        controller.enqueue(new Uint8Array(16 * 1024).fill(0x20));
      },
    });
    const response = await handler(
      new Request(`${ORIGIN}${PREFIX}/j1/files`, {
        method: "POST",
        headers: { authorization: "Bearer alice", "content-type": "application/json" },
        body: endless,
        duplex: "half",
      } as RequestInit),
    );
    expect(response.status).toBe(413);
    expect(((await response.json()) as { error: Json }).error.code).toBe("PAYLOAD_TOO_LARGE");
    expect(pulled).toBeLessThan(10);
  });

  it("sizes the default limit from the manager's file limit when it exposes one", async () => {
    const { storage } = await openStorage();
    const limited = Object.assign(Object.create(storage) as JobStorageManager, { maxFileSizeBytes: 1000 });
    const handler = createJobsHandler(limited, { authorize });
    const response = await handler(
      new Request(`${ORIGIN}${PREFIX}/create`, {
        method: "POST",
        headers: { authorization: "Bearer alice", "content-type": "application/json", "content-length": String(1400 + 64 * 1024 + 1) },
        body: "x".repeat(1400 + 64 * 1024 + 1),
      }),
    );
    expect(response.status).toBe(413);
  });
});

describe("error mapping", () => {
  const EXPECTED: Record<JobStorageErrorCode, number> = {
    JOB_NOT_FOUND: 404,
    FILE_NOT_FOUND: 404,
    FILE_EXISTS: 409,
    JOB_EXISTS: 409,
    INVALID_JOB_ID: 400,
    INVALID_PATH: 400,
    INVALID_INPUT: 400,
    FILE_TOO_LARGE: 413,
    PROJECT_TOO_LARGE: 413,
    INVALID_STATE: 409,
    JOB_EXPIRED: 410,
    ZIP_NOT_READY: 409,
    STORAGE_FULL: 507,
  };

  it("has a status for every error code", () => {
    for (const code of JOB_STORAGE_ERROR_CODES) {
      expect(HTTP_STATUS_BY_CODE[code], code).toBe(EXPECTED[code]);
      expect(statusForErrorCode(code)).toBe(EXPECTED[code]);
    }
    expect(statusForErrorCode("SOMETHING_ELSE")).toBe(500);
    expect(statusForErrorCode("toString")).toBe(500);
  });

  it.each(JOB_STORAGE_ERROR_CODES.map((code) => [code]))("answers %s thrown by the storage with its status", async (code) => {
    const { json, storage, createJob } = await setup();
    await createJob("j1");
    vi.spyOn(storage, "writeFile").mockRejectedValue(new JobStorageError(code, `failure ${code}`, { jobId: "j1" }));
    const result = await json("POST", "/j1/files", { body: { path: "a.txt", content: "x" } });
    expectError(result, EXPECTED[code], code);
    expect((result.body.error as Json).message).toBe(`failure ${code}`);
  });

  it("answers 507 STORAGE_FULL for a full disk", async () => {
    const { json, storage, createJob } = await setup();
    await createJob("j1");
    vi.spyOn(storage, "writeFiles").mockRejectedValue(new JobStorageError("STORAGE_FULL", "No space left on the storage device"));
    expectError(await json("POST", "/j1/files/batch", { body: [{ path: "a", content: "x" }] }), 507, "STORAGE_FULL");
  });

  it("answers anything unexpected with a generic 500, reported to onError and the logger, never leaking paths or stacks", async () => {
    const onError = vi.fn();
    const logger = { error: vi.fn() };
    const { json, storage, basePath, createJob } = await setup({}, { onError, logger });
    await createJob("j1");
    const leak = Object.assign(new Error(`EACCES: permission denied, open '${basePath}/j1/files/a.txt'`), { code: "EACCES" });
    vi.spyOn(storage, "listFiles").mockRejectedValue(leak);
    const result = await json("GET", "/j1/files");
    expect(result).toMatchObject({ status: 500, body: { error: { code: "INTERNAL_ERROR", message: "Internal server error" } } });
    expect(result.text).not.toContain(basePath);
    expect(result.text).not.toContain("EACCES");
    expect(result.text).not.toMatch(/\bat .*:\d+:\d+/);
    expect(onError).toHaveBeenCalledWith(leak, expect.any(Request));
    expect(logger.error).toHaveBeenCalledOnce();
  });

  it("keeps answering when onError itself throws", async () => {
    const { json, storage, createJob } = await setup({}, {
      onError: () => {
        throw new Error("reporter down");
      },
    });
    await createJob("j1");
    vi.spyOn(storage, "listFiles").mockRejectedValue(new Error("boom"));
    expectError(await json("GET", "/j1/files"), 500, "INTERNAL_ERROR");
  });

  it("scrubs the base path from a storage error message, should one ever carry it", async () => {
    const { json, storage, basePath, createJob } = await setup();
    await createJob("j1");
    vi.spyOn(storage, "readFile").mockRejectedValue(new JobStorageError("FILE_NOT_FOUND", `No file at ${basePath}/j1/files/x`));
    const result = await json("GET", "/j1/files/x");
    expectError(result, 404, "FILE_NOT_FOUND");
    expect(result.text).not.toContain(basePath);
  });

  it("never puts the base path in any error body", async () => {
    const clock = fakeClock();
    const { json, basePath, createJob } = await setup({ now: clock.now, maxFileSizeBytes: 10, expiryHours: 1 });
    await createJob("j1");
    await createJob("j2");
    await json("POST", "/j2/complete");
    const bodies = [
      await json("GET", "/j1/files/%2e%2e%2f%2e%2e%2fetc%2fpasswd"),
      await json("GET", "/j1/files/missing.txt"),
      await json("GET", "/j1/files/a%00"),
      await json("POST", "/j1/files", { body: { path: "../../../../etc/passwd", content: "x" } }),
      await json("POST", "/j1/files", { body: { path: "big", content: "x".repeat(50) } }),
      await json("GET", "/j1/download"),
      await json("POST", "/j2/files", { body: { path: "a", content: "x" } }),
      await json("POST", "/create", { body: { project_name: "x", job_id: "j1" } }),
      await json("GET", "/nope/files"),
    ];
    clock.advanceHours(2);
    bodies.push(await json("POST", "/j1/files", { body: { path: "a", content: "x" } }));
    for (const result of bodies) {
      expect(result.status).toBeGreaterThanOrEqual(400);
      expect(result.text).not.toContain(basePath);
      expect(result.text).not.toContain("/tmp");
    }
  });
});
