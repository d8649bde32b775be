/**
 * A response sent before the request body was read (a 413 from the declared
 * Content-Length, a 400, a 404 with a body) must leave the connection either
 * reusable (the rest of the body drained) or closed with `Connection: close`,
 * never stalled for the client's next request on it.
 */
import { once } from "node:events";
import http from "node:http";
import net from "node:net";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { createJobsHandler, toNodeHandler } from "../src/http/index.js";
import { openStorage } from "./helpers/temp.js";

const KIB = 1024;
const MAX_FILE = 64 * KIB;
// The default file-route body limit for a 64 KiB maxFileSizeBytes: 1.4x plus 64 KiB of JSON room.
const FILE_BODY_LIMIT = Math.ceil(MAX_FILE * 1.4) + 64 * KIB;

const servers: http.Server[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

async function jobsServer() {
  const { storage } = await openStorage({ maxFileSizeBytes: MAX_FILE });
  const server = http.createServer(toNodeHandler(createJobsHandler(storage)));
  servers.push(server);
  let connections = 0;
  server.on("connection", () => connections++);
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  await storage.createJob({ projectName: "keep-alive", jobId: "j1" });
  return { storage, port, url: `http://127.0.0.1:${port}/api/v1/jobs/j1/files`, connections: () => connections };
}

interface RawResponse {
  statusLine: string;
  headers: Record<string, string>;
  body: string;
}

/**
 * A raw HTTP/1.1 client on one socket: reads responses one at a time (framed
 * by Content-Length) and records whether the server ended the socket.
 */
class RawClient {
  private buffer = Buffer.alloc(0);
  private waiter: (() => void) | undefined;
  /** The server sent FIN. */
  ended = false;
  /** The socket is gone (after FIN, or reset). */
  gone = false;
  readonly closed: Promise<void>;

  constructor(readonly socket: net.Socket) {
    socket.on("data", (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      this.waiter?.();
    });
    socket.on("end", () => {
      this.ended = true;
      this.waiter?.();
    });
    socket.on("error", () => {});
    this.closed = once(socket, "close").then(() => {
      this.gone = true;
      this.waiter?.();
    });
  }

  static async connect(port: number): Promise<RawClient> {
    const socket = net.connect(port, "127.0.0.1");
    await once(socket, "connect");
    return new RawClient(socket);
  }

  private async more(): Promise<void> {
    if (this.ended || this.gone) throw new Error(`The server ended the socket; unparsed: ${JSON.stringify(this.buffer.toString("latin1"))}`);
    await new Promise<void>((resolve) => (this.waiter = resolve));
    this.waiter = undefined;
  }

  async response(): Promise<RawResponse> {
    let end: number;
    while ((end = this.buffer.indexOf("\r\n\r\n")) === -1) await this.more();
    const [statusLine, ...lines] = this.buffer.subarray(0, end).toString("latin1").split("\r\n");
    const headers: Record<string, string> = {};
    for (const line of lines) {
      const colon = line.indexOf(":");
      headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
    }
    const length = Number(headers["content-length"]);
    expect(Number.isSafeInteger(length), "the response has a Content-Length").toBe(true);
    while (this.buffer.length < end + 4 + length) await this.more();
    const body = this.buffer.subarray(end + 4, end + 4 + length).toString("utf8");
    this.buffer = this.buffer.subarray(end + 4 + length);
    return { statusLine: statusLine!, headers, body };
  }
}

function fileRequest(path: string, content: string): string {
  const body = JSON.stringify({ path, content });
  return (
    `POST /api/v1/jobs/j1/files HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`
  );
}

const TOO_LARGE_BODY = JSON.stringify({
  error: { code: "PAYLOAD_TOO_LARGE", message: `The request body is larger than ${FILE_BODY_LIMIT} bytes` },
});

describe("an answer sent before the request body was read", () => {
  it("does not hold up server.close(): a connection still draining when close() begins is closed once drained", async () => {
    const { port } = await jobsServer();
    const server = servers.at(-1)!;
    // Long enough that a connection left open after its drain would outlast the test's timeout.
    server.keepAliveTimeout = 10 * 60_000;
    const client = await RawClient.connect(port);
    const body = JSON.stringify({ path: "big.txt", content: "x".repeat(2 * FILE_BODY_LIMIT) });
    const half = Math.floor(body.length / 2);
    client.socket.write(
      `POST /api/v1/jobs/j1/files HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body.slice(0, half)}`,
    );
    const early = await client.response();
    expect(early.statusLine).toBe("HTTP/1.1 413 Payload Too Large");
    expect(early.headers.connection).not.toBe("close"); // drainable: the server keeps reading
    // The host shuts down while the rest of the body is still on its way.
    const closed = new Promise((resolve) => server.close(resolve));
    servers.pop();
    client.socket.write(body.slice(half));
    await closed; // resolves only once this connection is gone
    await client.closed;
    expect(client.gone).toBe(true);
  });

  it("leaves fetch's kept-alive connection usable: 400, then 413 on a 2 MB body, then more POSTs", async () => {
    const { url, storage } = await jobsServer();
    const post = (body: string) => fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body });

    const malformed = await post("{not json");
    expect(malformed.status).toBe(400);
    const oversized = await post(JSON.stringify({ path: "big.txt", content: "x".repeat(2_000_000) }));
    expect(oversized.status).toBe(413);
    // Neither body is read, as a careless client would do.

    for (let i = 0; i < 5; i++) {
      const response = await post(JSON.stringify({ path: `after/${i}.txt`, content: `file ${i}` }));
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({ success: true, path: `after/${i}.txt`, size: 6 });
    }
    expect((await storage.listFiles("j1")).map((file) => file.path).sort()).toEqual(
      [0, 1, 2, 3, 4].map((i) => `after/${i}.txt`),
    );
    await malformed.body?.cancel();
    await oversized.body?.cancel();
  });

  it("drains a 2 MB body it refused (413) and answers the next request on the same socket", async () => {
    const { port, connections } = await jobsServer();
    const client = await RawClient.connect(port);
    const declared = 2_000_000;
    client.socket.write(
      `POST /api/v1/jobs/j1/files HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${declared}\r\n\r\n`,
    );
    client.socket.write("x".repeat(64 * KIB));

    const refused = await client.response();
    expect(refused.statusLine).toBe("HTTP/1.1 413 Payload Too Large");
    expect(refused.headers["content-type"]).toBe("application/json; charset=utf-8");
    expect(refused.headers["connection"]).toBe("keep-alive");
    expect(refused.body).toBe(TOO_LARGE_BODY);

    // The rest of the refused body, then a request of its own on the same socket.
    client.socket.write("x".repeat(declared - 64 * KIB));
    client.socket.write(fileRequest("next.txt", "hello"));
    const next = await client.response();
    expect(next.statusLine).toBe("HTTP/1.1 200 OK");
    expect(JSON.parse(next.body)).toEqual({ success: true, path: "next.txt", size: 5 });
    expect(client.ended).toBe(false);
    expect(connections()).toBe(1);
    client.socket.destroy();
  });

  it("answers Connection: close and ends the socket when the refused body is too large to drain", async () => {
    const { port } = await jobsServer();
    const client = await RawClient.connect(port);
    client.socket.write(
      `POST /api/v1/jobs/j1/files HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${2 ** 30}\r\n\r\n`,
    );
    const refused = await client.response();
    expect(refused.statusLine).toBe("HTTP/1.1 413 Payload Too Large");
    expect(refused.headers["connection"]).toBe("close");
    expect(refused.body).toBe(TOO_LARGE_BODY);
    await client.closed;
    expect(client.ended).toBe(true);
  });

  it("answers Connection: close when a chunked body of unknown length was abandoned past the limit", async () => {
    const { port } = await jobsServer();
    const client = await RawClient.connect(port);
    client.socket.write(
      `POST /api/v1/jobs/j1/files HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n`,
    );
    const chunk = "x".repeat(FILE_BODY_LIMIT + 1);
    client.socket.write(`${chunk.length.toString(16)}\r\n${chunk}\r\n`);
    const refused = await client.response();
    expect(refused.statusLine).toBe("HTTP/1.1 413 Payload Too Large");
    expect(refused.headers["connection"]).toBe("close");
    expect(refused.body).toBe(TOO_LARGE_BODY);
    await client.closed;
    expect(client.ended).toBe(true);
  });

  it("drains the body of a request answered without reading it (404 route) and keeps the socket", async () => {
    const { port } = await jobsServer();
    const client = await RawClient.connect(port);
    const body = "y".repeat(300 * KIB);
    client.socket.write(`POST /api/v1/jobs/j1/nowhere HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: ${body.length}\r\n\r\n`);
    const missing = await client.response();
    expect(missing.statusLine).toBe("HTTP/1.1 404 Not Found");
    expect(JSON.parse(missing.body)).toEqual({ error: { code: "ROUTE_NOT_FOUND", message: "No such route" } });
    client.socket.write(body);
    client.socket.write(fileRequest("after-404.txt", "ok"));
    const next = await client.response();
    expect(next.statusLine).toBe("HTTP/1.1 200 OK");
    expect(client.ended).toBe(false);
    client.socket.destroy();
  });
});
