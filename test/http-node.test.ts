/**
 * toNodeHandler over real sockets: body streaming and limits, disconnects,
 * backpressure, failures that must not crash the process, Express mounting.
 */
import { once } from "node:events";
import http from "node:http";
import net from "node:net";
import type { AddressInfo } from "node:net";
import express from "express";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createJobsHandler, toNodeHandler, type NodeHandlerOptions } from "../src/http/index.js";
import { openStorage } from "./helpers/temp.js";

const servers: http.Server[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

async function listen(listener: http.RequestListener): Promise<string> {
  const server = http.createServer(listener);
  servers.push(server);
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function serveWeb(handler: (request: Request) => Promise<Response>, options?: NodeHandlerOptions): Promise<string> {
  return listen(toNodeHandler(handler, options));
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Sends raw bytes and returns what the server answered until it closed or `ms` passed. */
async function rawRequest(url: string, text: string, ms = 500): Promise<string> {
  const { port } = new URL(url);
  const socket = net.connect(Number(port), "127.0.0.1");
  await once(socket, "connect");
  socket.write(text);
  const chunks: Buffer[] = [];
  socket.on("data", (chunk: Buffer) => chunks.push(chunk));
  await Promise.race([once(socket, "close"), sleep(ms)]);
  socket.destroy();
  return Buffer.concat(chunks).toString("utf8");
}

describe("toNodeHandler with the jobs handler", () => {
  async function jobsServer(maxBodyBytes?: number) {
    const { storage } = await openStorage();
    const handler = createJobsHandler(storage, maxBodyBytes === undefined ? {} : { maxBodyBytes });
    const url = await serveWeb(handler);
    await storage.createJob({ projectName: "x", jobId: "j1" });
    return { storage, url };
  }

  it("streams a request body in, and answers the guide's JSON", async () => {
    const { url, storage } = await jobsServer();
    const content = "x".repeat(300_000);
    const encoder = new TextEncoder();
    const parts = [`{"path":"big.txt","content":"`, content, `"}`];
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        const part = parts.shift();
        if (part === undefined) controller.close();
        else controller.enqueue(encoder.encode(part));
      },
    });
    const response = await fetch(`${url}/api/v1/jobs/j1/files`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body,
      duplex: "half",
    } as RequestInit);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ success: true, path: "big.txt", size: 300_000 });
    expect(await storage.readFile("j1", "big.txt", "utf8")).toBe(content);
  });

  it("answers 413 to an oversized body with Content-Length, and keeps serving", async () => {
    const { url } = await jobsServer(1024);
    const response = await fetch(`${url}/api/v1/jobs/j1/files`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ path: "a", content: "x".repeat(2 * 1024 * 1024) }),
    });
    expect(response.status).toBe(413);
    expect(await response.json()).toMatchObject({ error: { code: "PAYLOAD_TOO_LARGE" } });
    expect((await fetch(`${url}/api/v1/jobs/j1`)).status).toBe(200);
  });

  it("answers 413 to an oversized chunked body, stopping early", async () => {
    const { url } = await jobsServer(64 * 1024);
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (sent >= 50 * 1024 * 1024) return controller.close();
        sent += 64 * 1024;
        controller.enqueue(new Uint8Array(64 * 1024).fill(0x20));
      },
    });
    const response = await fetch(`${url}/api/v1/jobs/j1/files`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body,
      duplex: "half",
    } as RequestInit).catch((error: unknown) => error);
    // The answer is 413; a client still sending may instead see the connection closed under it.
    if (response instanceof Response) {
      expect(response.status).toBe(413);
    } else {
      expect(response).toBeInstanceOf(Error);
    }
    expect((await fetch(`${url}/api/v1/jobs/j1`)).status).toBe(200);
  });

  it("treats '//host/...' request targets as paths and ignores a hostile Host header", async () => {
    const { url } = await jobsServer();
    const evil = await rawRequest(url, "GET //evil.example/api/v1/jobs/j1 HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n");
    expect(evil).toMatch(/^HTTP\/1\.1 404/);
    const badHost = await rawRequest(url, "GET /api/v1/jobs/j1 HTTP/1.1\r\nHost: a b@c\r\nConnection: close\r\n\r\n");
    expect(badHost).toMatch(/^HTTP\/1\.1 (200|400)/); // node itself may refuse it; never a crash
  });

  it("answers HEAD without a body", async () => {
    const { url } = await jobsServer();
    const head = await rawRequest(url, "HEAD /api/v1/jobs/j1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    expect(head).toMatch(/^HTTP\/1\.1 200/);
    expect(head.split("\r\n\r\n")[1]).toBe("");
  });
});

describe("toNodeHandler mechanics", () => {
  it("reads a small declared body whole before the handler, and never calls it for a client that leaves mid-body", async () => {
    const seen: string[] = [];
    let calls = 0;
    const url = await serveWeb(async (request) => {
      calls += 1;
      seen.push(await request.text());
      return new Response("ok");
    });
    const { port } = new URL(url);
    const socket = net.connect(Number(port), "127.0.0.1");
    await once(socket, "connect");
    socket.write("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\n0123456789");
    const closed = once(socket, "close");
    socket.destroy();
    await closed;
    const response = await fetch(url, { method: "POST", body: "small body" });
    expect(await response.text()).toBe("ok");
    expect(seen).toEqual(["small body"]);
    expect(calls).toBe(1);
  });

  it("aborts the request's signal when the client disconnects", async () => {
    let aborted = false;
    let markStarted!: () => void;
    const started = new Promise<void>((resolve) => (markStarted = resolve));
    const url = await serveWeb(async (request) => {
      if (!request.url.endsWith("/wait")) return new Response("ok");
      markStarted();
      await new Promise((resolve) => request.signal.addEventListener("abort", resolve));
      aborted = true;
      return new Response("too late");
    });
    const request = http.get(`${url}/wait`);
    request.on("error", () => {});
    await started;
    request.destroy();
    for (let i = 0; i < 50 && !aborted; i++) await sleep(10);
    expect(aborted).toBe(true);
    expect((await fetch(url)).status).toBe(200);
  });

  it("writes with backpressure: a client that does not read stops the body being pulled, and a disconnect cancels it", async () => {
    let pulled = 0;
    let cancelled = false;
    const url = await serveWeb(async () => {
      const body = new ReadableStream<Uint8Array>({
        pull(controller) {
          pulled += 64 * 1024;
          controller.enqueue(new Uint8Array(64 * 1024));
        },
        cancel() {
          cancelled = true;
        },
      });
      return new Response(body);
    });
    const response = await new Promise<http.IncomingMessage>((resolve) => {
      const request = http.get(url, resolve);
      request.on("error", () => {});
    });
    response.pause();
    await sleep(300);
    const first = pulled;
    await sleep(300);
    expect(pulled).toBe(first); // stalled on 'drain', not buffering without bound
    expect(pulled).toBeLessThan(64 * 1024 * 1024);
    response.destroy();
    for (let i = 0; i < 50 && !cancelled; i++) await sleep(10);
    expect(cancelled).toBe(true);
  });

  it("answers 500 when the handler rejects, and drops the connection when a body fails mid-stream", async () => {
    const onError = vi.fn();
    const rejecting = await serveWeb(() => Promise.reject(new Error("handler bug")), { onError });
    const response = await fetch(rejecting);
    expect(response.status).toBe(500);
    expect(await response.json()).toEqual({ error: { code: "INTERNAL_ERROR", message: "Internal server error" } });
    expect(onError).toHaveBeenCalledWith(expect.objectContaining({ message: "handler bug" }));

    const failingBody = (length: number) => {
      let step = 0;
      return new Response(
        new ReadableStream<Uint8Array>({
          pull(controller) {
            step += 1;
            if (step === 1) controller.enqueue(new TextEncoder().encode("partial"));
            else controller.error(new Error("disk gone"));
          },
        }),
        { headers: { "content-length": String(length) } },
      );
    };
    // Streamed (over 64 KiB): the headers are out when the body fails, so the connection is dropped.
    const failing = await serveWeb(async () => failingBody(1_000_000), { onError });
    const broken = await fetch(failing).then((r) => r.text()).then(
      () => "completed",
      () => "failed",
    );
    expect(broken).toBe("failed");
    expect(onError).toHaveBeenCalledWith(expect.objectContaining({ message: "disk gone" }));
    // Small (written in one piece): nothing is out yet, so the client gets a whole 500 instead.
    onError.mockClear();
    const small = await fetch(await serveWeb(async () => failingBody(1000), { onError }));
    expect(small.status).toBe(500);
    expect(await small.json()).toEqual({ error: { code: "INTERNAL_ERROR", message: "Internal server error" } });
    expect(onError).toHaveBeenCalledWith(expect.objectContaining({ message: "disk gone" }));
    expect((await fetch(rejecting)).status).toBe(500); // still serving
  });

  it("keeps several Set-Cookie headers and the status", async () => {
    const url = await serveWeb(async () => {
      const headers = new Headers({ "x-a": "1" });
      headers.append("set-cookie", "a=1");
      headers.append("set-cookie", "b=2");
      return new Response("created", { status: 201, headers });
    });
    const response = await fetch(url);
    expect(response.status).toBe(201);
    expect(response.headers.getSetCookie()).toEqual(["a=1", "b=2"]);
    expect(await response.text()).toBe("created");
  });
});

describe("toNodeHandler in Express", () => {
  it("passes other URLs to next() and takes a body express.json() already parsed", async () => {
    const { storage } = await openStorage();
    const app = express();
    app.use(express.json());
    app.use(toNodeHandler(createJobsHandler(storage)));
    app.get("/other", (_req, res) => {
      res.send("other route");
    });
    const url = await listen(app);
    expect(await (await fetch(`${url}/other`)).text()).toBe("other route");
    const created = await fetch(`${url}/api/v1/jobs/create`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ project_name: "parsed", job_id: "p1" }),
    });
    expect(created.status).toBe(200);
    expect(await created.json()).toMatchObject({ job_id: "p1", project_name: "parsed" });
    const completed = await fetch(`${url}/api/v1/jobs/p1/complete`, { method: "POST", headers: { "content-type": "application/json" } });
    expect(completed.status).toBe(200);
  });

  it("works mounted at the prefix (Express strips it; originalUrl keeps it)", async () => {
    const { storage } = await openStorage();
    const app = express();
    app.use("/api/v1/jobs", toNodeHandler(createJobsHandler(storage)));
    const url = await listen(app);
    const created = await fetch(`${url}/api/v1/jobs/create`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: '{"project_name":"mounted"}',
    });
    expect(created.status).toBe(200);
  });
});
