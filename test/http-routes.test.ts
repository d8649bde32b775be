/**
 * The routes of issue #9, called with `new Request(...)`: move, progress,
 * prefix listing, HEAD, ETag / 304 on reads and downloads, byte ranges of
 * the download, `unchanged` writes, and 404 for another user's job.
 */
import fs from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { createJobsHandler } from "../src/http/index.js";
import { jobsApi, sha256, type Json } from "./helpers/http-jobs.js";
import { fakeClock } from "./helpers/temp.js";

function expectError(result: { status: number; body: Json }, status: number, code: string): void {
  expect(result, JSON.stringify(result.body)).toMatchObject({ status, body: { error: { code } } });
}

async function withJob(options: Parameters<typeof jobsApi>[0] = {}) {
  const api = await jobsApi(options);
  await api.storage.createJob({ projectName: "my-react-app", jobId: "j1", userId: "alice" });
  return api;
}

describe("POST /{id}/files/move", () => {
  it("moves a file and answers { from, path, size, sha256, overwritten }", async () => {
    const { json, storage } = await withJob();
    await storage.writeFile("j1", "a/b.ts", "export const b = 1;\n");
    const moved = await json("POST", "/j1/files/move", { body: { from: "a/b.ts", to: "c/b.ts" } });
    expect(moved).toEqual({
      status: 200,
      body: { from: "a/b.ts", path: "c/b.ts", size: 20, sha256: sha256("export const b = 1;\n"), overwritten: false },
    });
    expect((await json("GET", "/j1/files/c/b.ts")).body).toEqual({ path: "c/b.ts", content: "export const b = 1;\n" });
    expectError(await json("GET", "/j1/files/a/b.ts"), 404, "FILE_NOT_FOUND");
  });

  it("replaces the destination only with overwrite: true", async () => {
    const { json, storage } = await withJob();
    await storage.writeFile("j1", "a.ts", "new");
    await storage.writeFile("j1", "b.ts", "old");
    expectError(await json("POST", "/j1/files/move", { body: { from: "a.ts", to: "b.ts" } }), 409, "FILE_EXISTS");
    expectError(await json("POST", "/j1/files/move", { body: { from: "a.ts", to: "b.ts", overwrite: false } }), 409, "FILE_EXISTS");
    expect(await storage.readFile("j1", "b.ts", "utf8")).toBe("old");
    const moved = await json("POST", "/j1/files/move", { body: { from: "a.ts", to: "b.ts", overwrite: true } });
    expect(moved.body).toMatchObject({ from: "a.ts", path: "b.ts", overwritten: true });
    expect(await storage.readFile("j1", "b.ts", "utf8")).toBe("new");
    expect((await storage.getJob("j1"))?.filesCount).toBe(1);
  });

  it("answers 404 FILE_NOT_FOUND, 400 INVALID_INPUT for from == to or a bad body, 400 INVALID_PATH", async () => {
    const { json, storage } = await withJob();
    await storage.writeFile("j1", "a.ts", "a");
    expectError(await json("POST", "/j1/files/move", { body: { from: "nope.ts", to: "x.ts" } }), 404, "FILE_NOT_FOUND");
    expectError(await json("POST", "/j1/files/move", { body: { from: "a.ts", to: "a.ts" } }), 400, "INVALID_INPUT");
    expectError(await json("POST", "/j1/files/move", { body: { from: "a.ts", to: "./a.ts" } }), 400, "INVALID_INPUT");
    expectError(await json("POST", "/j1/files/move", { body: { from: "a.ts" } }), 400, "INVALID_INPUT");
    expectError(await json("POST", "/j1/files/move", { body: { from: "a.ts", to: "b.ts", overwrite: "yes" } }), 400, "INVALID_INPUT");
    expectError(await json("POST", "/j1/files/move", { body: { from: "a.ts", to: "../b.ts" } }), 400, "INVALID_PATH");
    expectError(await json("POST", "/j1/files/move", { body: { from: "/etc/passwd", to: "b.ts" } }), 400, "INVALID_PATH");
    expect(await storage.readFile("j1", "a.ts", "utf8")).toBe("a");
  });

  it("answers 409 INVALID_STATE on a complete job and 410 JOB_EXPIRED on an expired one", async () => {
    const clock = fakeClock();
    const { json, storage } = await withJob({ now: clock.now });
    await storage.createJob({ projectName: "y", jobId: "j2", userId: "alice", ttlHours: 1 });
    await storage.writeFile("j1", "a.ts", "a");
    await storage.writeFile("j2", "a.ts", "a");
    await storage.completeJob("j1");
    expectError(await json("POST", "/j1/files/move", { body: { from: "a.ts", to: "b.ts" } }), 409, "INVALID_STATE");
    clock.advanceHours(2);
    expectError(await json("POST", "/j2/files/move", { body: { from: "a.ts", to: "b.ts" } }), 410, "JOB_EXPIRED");
  });

  it("still reads and deletes a file named move", async () => {
    const { json, call, storage } = await withJob();
    await storage.writeFile("j1", "move", "literal");
    expect((await json("GET", "/j1/files/move")).body).toEqual({ path: "move", content: "literal" });
    expect((await call("PUT", "/j1/files/move")).headers.get("allow")).toBe("POST, GET, DELETE, HEAD");
    expect((await json("DELETE", "/j1/files/move")).body).toEqual({ success: true, path: "move" });
  });
});

describe("GET /{id}/progress", () => {
  it("answers the plan's progress in snake_case", async () => {
    const { json, storage } = await withJob();
    await storage.writePlan("j1", {
      tasks: [
        { name: "Setup", files: ["package.json", "tsconfig.json"] },
        { name: "Components", files: ["src/App.tsx", "src/Header.tsx", "src/Footer.tsx"] },
      ],
    });
    await storage.writeFiles("j1", [
      { path: "package.json", content: "{}" },
      { path: "src/App.tsx", content: "app" },
      { path: "README.md", content: "extra" },
    ]);
    expect(await json("GET", "/j1/progress")).toEqual({
      status: 200,
      body: {
        planned_files: 5,
        written_files: 2,
        percent: 40,
        missing: ["tsconfig.json", "src/Header.tsx", "src/Footer.tsx"],
        unplanned: ["README.md"],
        tasks: [
          { name: "Setup", planned: 2, written: 1, missing: ["tsconfig.json"] },
          { name: "Components", planned: 3, written: 1, missing: ["src/Header.tsx", "src/Footer.tsx"] },
        ],
      },
    });
  });

  it("answers zeros without a plan", async () => {
    const { json, storage } = await withJob();
    await storage.writeFile("j1", "a.ts", "a");
    expect((await json("GET", "/j1/progress")).body).toEqual({
      planned_files: 0,
      written_files: 0,
      percent: 0,
      missing: [],
      unplanned: ["a.ts"],
      tasks: [],
    });
  });
});

describe("GET /{id}/files?prefix=", () => {
  it("lists only that folder's subtree, each file with its sha256", async () => {
    const { json, storage } = await withJob();
    await storage.writeFiles("j1", [
      { path: "src/app/page.tsx", content: "page" },
      { path: "src/app/[id]/page.tsx", content: "id page" },
      { path: "src/application.ts", content: "not below src/app" },
      { path: "src/index.ts", content: "index" },
    ]);
    const { status, body } = await json("GET", "/j1/files?prefix=src/app");
    expect(status).toBe(200);
    expect(body).toEqual({
      job_id: "j1",
      files: [
        { path: "src/app/[id]/page.tsx", name: "page.tsx", size: 7, modified: expect.any(String), sha256: sha256("id page") },
        { path: "src/app/page.tsx", name: "page.tsx", size: 4, modified: expect.any(String), sha256: sha256("page") },
      ],
      count: 2,
    });
    expect((await json("GET", "/j1/files?prefix=src/app/")).body.count).toBe(2);
    expect((await json("GET", "/j1/files?prefix=")).body.count).toBe(4);
    expect((await json("GET", "/j1/files?prefix=lib")).body).toEqual({ job_id: "j1", files: [], count: 0 });
  });

  it("answers 400 INVALID_PATH for a prefix that leaves the job", async () => {
    const { json } = await withJob();
    expectError(await json("GET", "/j1/files?prefix=../other"), 400, "INVALID_PATH");
    expectError(await json("GET", "/j1/files?prefix=%2Fetc"), 400, "INVALID_PATH");
  });
});

describe("HEAD /{id}/files/{path} and ETags on file reads", () => {
  it("HEAD answers the file's size, type, ETag and Last-Modified with no body", async () => {
    const { call, storage } = await withJob();
    await storage.writeFile("j1", "src/App.tsx", "export default 1;\n");
    const stat = await storage.statFile("j1", "src/App.tsx");
    const response = await call("HEAD", "/j1/files/src/App.tsx");
    expect(response.status).toBe(200);
    expect(response.headers.get("content-length")).toBe("18");
    expect(response.headers.get("content-type")).toBe("application/octet-stream");
    expect(response.headers.get("etag")).toBe(`"${sha256("export default 1;\n")}"`);
    expect(response.headers.get("last-modified")).toBe(stat!.modified.toUTCString());
    expect(await response.text()).toBe("");
  });

  it("HEAD answers 404 for a missing file, 400 for a bad path, and 304 for a matching If-None-Match", async () => {
    const { call, storage } = await withJob();
    await storage.writeFile("j1", "a.txt", "a");
    const missing = await call("HEAD", "/j1/files/nope.txt");
    expect(missing.status).toBe(404);
    expect(await missing.text()).toBe("");
    expect((await call("HEAD", "/j1/files/notes.txt%3Ahidden")).status).toBe(400);
    const same = await call("HEAD", "/j1/files/a.txt", { headers: { "if-none-match": `"${sha256("a")}"` } });
    expect(same.status).toBe(304);
  });

  it("GET carries a strong ETag and answers 304 to a matching If-None-Match, 200 once the file changed", async () => {
    const { call, storage } = await withJob();
    await storage.writeFile("j1", "a.txt", "first");
    const first = await call("GET", "/j1/files/a.txt");
    const etag = first.headers.get("etag");
    expect(etag).toBe(`"${sha256("first")}"`);
    expect(first.headers.get("last-modified")).toMatch(/GMT$/);
    expect(await first.json()).toEqual({ path: "a.txt", content: "first" });

    for (const header of [etag!, `W/${etag!}`, `"other", ${etag!}`, "*"]) {
      const again = await call("GET", "/j1/files/a.txt", { headers: { "if-none-match": header } });
      expect(again.status, header).toBe(304);
      expect(again.headers.get("etag")).toBe(etag);
      expect(await again.text()).toBe("");
    }
    const other = await call("GET", "/j1/files/a.txt", { headers: { "if-none-match": '"0000"' } });
    expect(other.status).toBe(200);

    await storage.writeFile("j1", "a.txt", "second");
    const changed = await call("GET", "/j1/files/a.txt", { headers: { "if-none-match": etag! } });
    expect(changed.status).toBe(200);
    expect(changed.headers.get("etag")).toBe(`"${sha256("second")}"`);
    expect(await changed.json()).toEqual({ path: "a.txt", content: "second" });
  });

  it("GET of a missing file is still 404 with an If-None-Match: *", async () => {
    const { json } = await withJob();
    expectError(await json("GET", "/j1/files/nope.txt", { headers: { "if-none-match": "*" } }), 404, "FILE_NOT_FOUND");
  });
});

describe("writes report unchanged", () => {
  it("answers unchanged: true for a rewrite with identical content, single and batch", async () => {
    const { json } = await withJob();
    const body = { path: "a.txt", content: "same" };
    expect((await json("POST", "/j1/files", { body })).body).toEqual({ success: true, path: "a.txt", size: 4 });
    expect((await json("POST", "/j1/files", { body })).body).toEqual({ success: true, path: "a.txt", size: 4, unchanged: true });
    const batch = await json("POST", "/j1/files/batch", { body: [body, { path: "b.txt", content: "b" }] });
    expect(batch.body.results).toEqual([
      { path: "a.txt", success: true, size: 4, unchanged: true },
      { path: "b.txt", success: true, size: 1 },
    ]);
  });
});

describe("GET /{id}/download: ETag, 304 and byte ranges", () => {
  async function completed() {
    const api = await withJob();
    await api.storage.writeFiles(
      "j1",
      Array.from({ length: 20 }, (_, i) => ({ path: `src/f${i}.ts`, content: `export const f${i} = "${"x".repeat(i * 50)}";\n` })),
    );
    await api.storage.completeJob("j1");
    const zip = await fs.readFile((await api.storage.openZip("j1").then((handle) => (handle.stream.destroy(), handle))).path);
    const job = (await api.json("GET", "/j1")).body;
    return { ...api, zip, job };
  }

  it("sends Accept-Ranges and a strong ETag equal to the job's zip_sha256 and to the bytes' SHA-256", async () => {
    const { call, zip, job } = await completed();
    expect(job.zip_sha256).toBe(sha256(zip));
    const response = await call("GET", "/j1/download");
    expect(response.status).toBe(200);
    expect(response.headers.get("accept-ranges")).toBe("bytes");
    expect(response.headers.get("etag")).toBe(`"${sha256(zip)}"`);
    expect(response.headers.get("content-length")).toBe(String(zip.length));
    expect(Buffer.from(await response.arrayBuffer()).equals(zip)).toBe(true);
  });

  it("answers 304 with no body to a matching If-None-Match", async () => {
    const { call, zip } = await completed();
    const response = await call("GET", "/j1/download", { headers: { "if-none-match": `"${sha256(zip)}"` } });
    expect(response.status).toBe(304);
    expect(response.headers.get("etag")).toBe(`"${sha256(zip)}"`);
    expect(await response.text()).toBe("");
    expect((await call("GET", "/j1/download", { headers: { "if-none-match": '"stale"' } })).status).toBe(200);
  });

  it("answers 206 with exactly the bytes of one range, in every Range form", async () => {
    const { call, zip } = await completed();
    const size = zip.length;
    const cases: [string, number, number][] = [
      ["bytes=0-99", 0, 99],
      ["bytes=100-", 100, size - 1],
      ["bytes=-22", size - 22, size - 1],
      ["bytes=10-20,15-30", 10, 30], // overlapping ranges are combined into one
      [`bytes=${size - 5}-${size + 1000}`, size - 5, size - 1], // an end past the size is clamped
    ];
    for (const [range, start, end] of cases) {
      const response = await call("GET", "/j1/download", { headers: { range } });
      expect(response.status, range).toBe(206);
      expect(response.headers.get("content-range"), range).toBe(`bytes ${start}-${end}/${size}`);
      expect(response.headers.get("content-length"), range).toBe(String(end - start + 1));
      expect(Buffer.from(await response.arrayBuffer()).equals(zip.subarray(start, end + 1)), range).toBe(true);
    }
  });

  it("answers 416 with Content-Range: bytes */size to an unsatisfiable range", async () => {
    const { call, zip } = await completed();
    const response = await call("GET", "/j1/download", { headers: { range: `bytes=${zip.length}-` } });
    expect(response.status).toBe(416);
    expect(response.headers.get("content-range")).toBe(`bytes */${zip.length}`);
    expect(((await response.json()) as Json).error).toMatchObject({ code: "RANGE_NOT_SATISFIABLE" });
  });

  it("sends the whole ZIP for a stale If-Range, several ranges, or a Range it cannot parse", async () => {
    const { call, zip } = await completed();
    const etag = `"${sha256(zip)}"`;
    const matching = await call("GET", "/j1/download", { headers: { range: "bytes=0-9", "if-range": etag } });
    expect(matching.status).toBe(206);
    expect(Buffer.from(await matching.arrayBuffer()).equals(zip.subarray(0, 10))).toBe(true);
    const whole: Record<string, string>[] = [
      { range: "bytes=0-9", "if-range": '"an-older-zip"' },
      { range: "bytes=0-9", "if-range": "Wed, 21 Oct 2015 07:28:00 GMT" },
      { range: "bytes=0-9,100-109" },
      { range: "lines=1-2" },
      { range: "bytes=abc" },
    ];
    for (const headers of whole) {
      const response = await call("GET", "/j1/download", { headers });
      expect(response.status, JSON.stringify(headers)).toBe(200);
      expect(response.headers.get("content-range")).toBeNull();
      expect(Buffer.from(await response.arrayBuffer()).equals(zip), JSON.stringify(headers)).toBe(true);
    }
  });
});

describe("another user's job", () => {
  it("answers 404 JOB_NOT_FOUND on every new route, exactly like a missing job", async () => {
    const { call, storage } = await withJob();
    await storage.writeFile("j1", "a.ts", "a");
    const routes: [string, string, unknown?][] = [
      ["POST", "/j1/files/move", { from: "a.ts", to: "b.ts" }],
      ["GET", "/j1/progress"],
      ["GET", "/j1/files?prefix=src"],
      ["GET", "/j1/events"],
      ["GET", "/j1/files/a.ts"],
    ];
    for (const [method, path, body] of routes) {
      for (const target of [path, path.replace("/j1", "/missing")]) {
        const response = await call(method, target, { as: "bob", ...(body === undefined ? {} : { body }) });
        expect(response.status, `${method} ${target}`).toBe(404);
        expect(((await response.json()) as Json).error, `${method} ${target}`).toMatchObject({ code: "JOB_NOT_FOUND" });
      }
    }
    const head = await call("HEAD", "/j1/files/a.ts", { as: "bob" });
    expect(head.status).toBe(404);
    expect(head.headers.get("etag")).toBeNull();
    await storage.completeJob("j1");
    const download = await call("GET", "/j1/download", { as: "bob", headers: { range: "bytes=0-9" } });
    expect(download.status).toBe(404);
    expect(download.headers.get("content-range")).toBeNull();
    expect(await storage.readFile("j1", "a.ts", "utf8")).toBe("a");
  });
});

describe("the heartbeatMs option", () => {
  it("must be a positive integer", async () => {
    const { storage } = await jobsApi();
    for (const heartbeatMs of [0, -1, 1.5, Number.NaN]) {
      expect(() => createJobsHandler(storage, { heartbeatMs })).toThrow(
        expect.objectContaining({ code: "INVALID_INPUT", message: expect.stringContaining('"heartbeatMs"') }),
      );
    }
  });
});
