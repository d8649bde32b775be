/**
 * `GET /{id}/events`: the SSE format, order and content, resumption with
 * `Last-Event-ID` / `?since=`, the end of the stream at completion, the
 * keep-alive comment, and, over real sockets, a stream that is not
 * buffered, another process's writes, and a client that goes away freeing
 * the watch and its timer.
 */
import { once } from "node:events";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { createJobsHandler, toNodeHandler } from "../src/http/index.js";
import type { JobChange, JobStorageManager } from "../src/index.js";
import { startChild } from "./fixtures/children.js";
import { authorize, jobsApi, PREFIX, SseReader, type Json } from "./helpers/http-jobs.js";
import { openStorage, tempDir } from "./helpers/temp.js";

async function history(storage: JobStorageManager, jobId: string): Promise<JobChange[]> {
  const changes: JobChange[] = [];
  // The job is complete by now, so the watch ends by itself.
  for await (const change of storage.watch(jobId)) changes.push(change);
  return changes;
}

/** A change as the SSE `data:` carries it (JSON has no `undefined` fields). */
const asJson = (change: JobChange): Json => JSON.parse(JSON.stringify(change)) as Json;

function events(open: Promise<Response>): Promise<{ response: Response; sse: SseReader }> {
  return open.then((response) => {
    expect(response.status).toBe(200);
    return { response, sse: new SseReader(response.body!) };
  });
}

describe("GET /{id}/events", () => {
  it("answers the SSE headers, a retry line, then one message per change with id = seq and no event field, and ends at completion", async () => {
    const { call, storage } = await jobsApi();
    await storage.createJob({ projectName: "p", jobId: "j1", userId: "alice" });
    await storage.writePlan("j1", { tasks: [{ name: "All", files: ["a.ts", "b.ts"] }] });
    await storage.writeFiles("j1", [
      { path: "a.ts", content: "a" },
      { path: "b.ts", content: "bb" },
    ]);
    await storage.moveFile("j1", "b.ts", "lib/b.ts");
    await storage.deleteFile("j1", "a.ts");
    await storage.completeJob("j1");

    const { response, sse } = await events(call("GET", "/j1/events"));
    expect(response.headers.get("content-type")).toBe("text/event-stream; charset=utf-8");
    expect(response.headers.get("cache-control")).toBe("no-cache");
    expect(response.headers.get("x-accel-buffering")).toBe("no");
    expect(await sse.next()).toEqual({ retry: "2000", comments: [], raw: "retry: 2000" });

    const messages = await sse.rest(); // resolves only because the body closes after the terminal status
    const expected = await history(storage, "j1");
    expect(messages.map((message) => JSON.parse(message.data!) as Json)).toEqual(expected.map(asJson));
    for (const message of messages) {
      expect(message.event).toBeUndefined();
      expect(message.id).toBe(String((JSON.parse(message.data!) as Json).seq));
      expect(message.raw.split("\n")).toHaveLength(2); // id and one line of data
    }
    expect(messages.map((message) => JSON.parse(message.data!) as Json)).toMatchObject([
      { type: "job:status", status: "generating" },
      { type: "plan:written", size: expect.any(Number) },
      { type: "file:written", path: "a.ts", size: 1 },
      { type: "file:written", path: "b.ts", size: 2, sha256: expect.stringMatching(/^[0-9a-f]{64}$/) },
      { type: "file:moved", from: "b.ts", path: "lib/b.ts" },
      { type: "file:deleted", path: "a.ts" },
      { type: "job:status", status: "complete" },
    ]);
  });

  it("streams changes as they happen, and ends right after the job fails", async () => {
    const { call, storage } = await jobsApi();
    await storage.createJob({ projectName: "p", jobId: "j1", userId: "alice" });
    const { sse } = await events(call("GET", "/j1/events"));
    expect((await sse.next())?.retry).toBe("2000");
    expect(JSON.parse((await sse.nextMessage())!.data!)).toMatchObject({ type: "job:status", status: "generating" });
    for (const name of ["one.ts", "two.ts"]) {
      await storage.writeFile("j1", name, name);
      expect(JSON.parse((await sse.nextMessage())!.data!)).toMatchObject({ type: "file:written", path: name });
    }
    await storage.failJob("j1", "the model gave up");
    expect(JSON.parse((await sse.nextMessage())!.data!)).toMatchObject({ type: "job:status", status: "failed" });
    expect(await sse.next()).toBeUndefined();
  });

  it("resumes after an interrupted stream with Last-Event-ID: no gap, no duplicate", async () => {
    const { call, storage } = await jobsApi();
    await storage.createJob({ projectName: "p", jobId: "j1", userId: "alice" });
    await storage.writeFile("j1", "1.ts", "1");
    await storage.writeFile("j1", "2.ts", "2");

    const first = await events(call("GET", "/j1/events"));
    const seen: string[] = [];
    for (let i = 0; i < 2; i += 1) seen.push((await first.sse.nextMessage())!.id!);
    await first.sse.cancel(); // the connection drops after two messages

    // Changes while the client is away.
    await storage.writeFile("j1", "3.ts", "3");
    await storage.moveFile("j1", "1.ts", "one.ts");

    const second = await events(call("GET", "/j1/events", { headers: { "last-event-id": seen.at(-1)! } }));
    expect((await second.sse.next())?.retry).toBe("2000");
    const afterReconnect = [(await second.sse.nextMessage())!, (await second.sse.nextMessage())!, (await second.sse.nextMessage())!];
    await storage.writeFile("j1", "4.ts", "4");
    await storage.completeJob("j1");
    const rest = await second.sse.rest();
    seen.push(...[...afterReconnect, ...rest].map((message) => message.id!));

    const all = (await history(storage, "j1")).map((change) => String(change.seq));
    expect(seen).toEqual(all);
    expect(new Set(seen).size).toBe(seen.length);
  });

  it("resumes with ?since=, and Last-Event-ID wins over it", async () => {
    const { call, storage } = await jobsApi();
    await storage.createJob({ projectName: "p", jobId: "j1", userId: "alice" });
    for (const name of ["a", "b", "c"]) await storage.writeFile("j1", `${name}.ts`, name);
    await storage.completeJob("j1");
    const all = await history(storage, "j1");
    const since = all[1]!.seq;
    const bySince = await (await events(call("GET", `/j1/events?since=${since}`))).sse.rest();
    expect(bySince.map((message) => Number(message.id))).toEqual(all.slice(2).map((change) => change.seq));
    const byHeader = await (
      await events(call("GET", "/j1/events?since=0", { headers: { "last-event-id": String(all[3]!.seq) } }))
    ).sse.rest();
    expect(byHeader.map((message) => Number(message.id))).toEqual(all.slice(4).map((change) => change.seq));
  });

  it("answers 400 INVALID_INPUT for a Last-Event-ID or since that is not a seq", async () => {
    const { json, storage } = await jobsApi();
    await storage.createJob({ projectName: "p", jobId: "j1", userId: "alice" });
    for (const [path, headers] of [
      ["/j1/events", { "last-event-id": "abc" }],
      ["/j1/events", { "last-event-id": "-1" }],
      ["/j1/events?since=1.5", {}],
      ["/j1/events?since=-3", {}],
    ] as const) {
      const result = await json("GET", path, { headers });
      expect(result, `${path} ${JSON.stringify(headers)}`).toMatchObject({ status: 400, body: { error: { code: "INVALID_INPUT" } } });
    }
  });

  it("sends a ': keep-alive' comment every heartbeatMs while nothing changes", async () => {
    const { call, storage } = await jobsApi({}, { heartbeatMs: 20 });
    await storage.createJob({ projectName: "p", jobId: "j1", userId: "alice" });
    const { sse } = await events(call("GET", "/j1/events"));
    let comments = 0;
    while (comments < 2) {
      const block = (await sse.next())!;
      if (block.data === undefined && block.retry === undefined) {
        expect(block.comments).toEqual(["keep-alive"]);
        expect(block.raw).toBe(": keep-alive");
        comments += 1;
      }
    }
    await sse.cancel();
  });

  it("ends the watch when the body is cancelled or the request's signal aborts", async () => {
    const { handler, storage } = await jobsApi();
    await storage.createJob({ projectName: "p", jobId: "j1", userId: "alice" });
    const controller = new AbortController();
    const request = new Request(`http://jobs.test${PREFIX}/j1/events`, {
      headers: { authorization: "Bearer alice" },
      signal: controller.signal,
    });
    const sse = new SseReader((await handler(request)).body!);
    await sse.nextMessage();
    const pending = sse.next(); // waits in the watch
    controller.abort();
    // The watch ends at once: the body closes (no job change needed to wake it).
    await expect(pending).resolves.toBeUndefined();
  });
});

// ----------------------------------------------------------- real sockets

const servers: http.Server[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

async function serve(storage: JobStorageManager): Promise<string> {
  const server = http.createServer(toNodeHandler(createJobsHandler(storage, { authorize })));
  servers.push(server);
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}${PREFIX}`;
}

describe("GET /{id}/events over node:http", () => {
  it("delivers each message while the stream is open (nothing is buffered)", async () => {
    const { storage } = await openStorage();
    await storage.createJob({ projectName: "p", jobId: "j1", userId: "alice" });
    const url = await serve(storage);
    const response = await fetch(`${url}/j1/events`, { headers: { authorization: "Bearer alice" } });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("text/event-stream; charset=utf-8");
    expect(response.headers.get("x-accel-buffering")).toBe("no");
    const sse = new SseReader(response.body!);
    expect((await sse.next())?.retry).toBe("2000");
    expect(JSON.parse((await sse.nextMessage())!.data!)).toMatchObject({ type: "job:status", status: "generating" });
    // Each write is seen before the next is made: a buffered stream would hang here.
    for (let i = 0; i < 3; i += 1) {
      await storage.writeFile("j1", `f${i}.ts`, String(i));
      expect(JSON.parse((await sse.nextMessage())!.data!)).toMatchObject({ type: "file:written", path: `f${i}.ts` });
    }
    await storage.completeJob("j1");
    expect(JSON.parse((await sse.nextMessage())!.data!)).toMatchObject({ type: "job:status", status: "complete" });
    expect(await sse.next()).toBeUndefined(); // the response body closes
  });

  it("streams another process's writes on the same base path, each once and in order", async () => {
    const basePath = await tempDir("ej-sse-mp-");
    const { storage } = await openStorage({ basePath });
    await storage.createJob({ projectName: "across", jobId: "j1", userId: "alice" });
    const url = await serve(storage);
    const paths = Array.from({ length: 10 }, (_, i) => `src/f${i}.ts`);
    const child = startChild("watch-writer", [basePath, "j1", ...paths]);
    await child.waitForLine("ready");
    const response = await fetch(`${url}/j1/events`, { headers: { authorization: "Bearer alice" } });
    const sse = new SseReader(response.body!);
    expect(JSON.parse((await sse.nextMessage())!.data!)).toMatchObject({ type: "job:status", status: "generating" });
    child.child.kill("SIGUSR2");
    const reading = sse.rest();
    // A writer that dies early would leave the stream open: fail with its output instead.
    const messages = await Promise.race([
      reading,
      child.exited.then(async (result) => {
        if (result.code !== 0) throw new Error(`watch-writer exited ${result.code ?? result.signal}: ${result.stderr}`);
        return reading;
      }),
    ]);
    expect((await child.exited).code).toBe(0);
    const changes = messages.map((message) => JSON.parse(message.data!) as Json);
    expect(changes.map((change) => `${String(change.type)} ${String(change.path ?? change.status)}`)).toEqual([
      ...paths.map((p) => `file:written ${p}`),
      `file:deleted ${paths[0]}`,
      `file:moved moved/${paths[1]}`,
      "job:status complete",
    ]);
    const seqs = messages.map((message) => Number(message.id));
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(new Set(seqs).size).toBe(seqs.length);
    expect(changes.map((change) => change.seq)).toEqual(seqs);
  }, 60_000);

  it("a client that goes away ends the watch and the heartbeat: the server process exits on its own", async () => {
    const basePath = await tempDir("ej-sse-exit-");
    const child = startChild("http-sse-server", [basePath]);
    try {
      const line = await new Promise<string>((resolve, reject) => {
        const check = (): void => {
          const match = /^(\d+) (\S+)$/m.exec(child.stdout);
          if (match) resolve(match[0]);
        };
        child.child.stdout!.on("data", check);
        void child.exited.then((result) => reject(new Error(`http-sse-server exited early: ${result.stderr}`)));
      });
      const [port, jobId] = line.split(" ");
      const controller = new AbortController();
      const response = await fetch(`http://127.0.0.1:${port}${PREFIX}/${jobId}/events`, { signal: controller.signal });
      const sse = new SseReader(response.body!);
      expect(JSON.parse((await sse.nextMessage())!.data!)).toMatchObject({ type: "job:status", status: "generating" });
      // A heartbeat has run at least once before the client leaves.
      for (let block = await sse.next(); block?.comments[0] !== "keep-alive"; block = await sse.next());
      controller.abort();
      // The manager is still open: only a watch and a heartbeat that really stopped let it exit.
      const exit = await child.exited;
      expect(exit.code, exit.stderr).toBe(0);
      const active = JSON.parse(/^active (.*)$/m.exec(exit.stdout)![1]!) as string[];
      expect(active).not.toContain("Timeout");
    } finally {
      if (child.child.exitCode === null) child.child.kill("SIGKILL");
    }
  }, 60_000);
});
