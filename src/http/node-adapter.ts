/**
 * A web `(Request) => Promise<Response>` handler as a Node.js listener for
 * Express, Connect and `node:http`: the request body is streamed in with
 * backpressure, the response streamed out honouring `drain`, and a client
 * that disconnects aborts the request's `AbortSignal` (which stops a
 * download's file read).
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { TLSSocket } from "node:tls";
import { errorResponse } from "./responses.js";

/** An Express / Connect / `node:http` request listener. */
export type NodeHandler = (req: IncomingMessage, res: ServerResponse, next?: (error?: unknown) => void) => void;

/** Options of {@link toNodeHandler}. */
export interface NodeHandlerOptions {
  /**
   * Called with errors of the adapter itself: a request that cannot be turned
   * into a web `Request`, a handler that rejects, a response body that fails
   * mid-stream. A client disconnecting is not an error.
   * @default none (the error is dropped; the process never crashes)
   */
  onError?: (error: unknown) => void;
}

/**
 * An answer sent before the request body was read (a 413 on the declared
 * length, a 404 with a body) keeps the connection alive only when the rest of
 * the body is declared and at most this long: it is read and discarded after
 * the response. A longer or chunked one is answered `Connection: close`, as
 * nginx does on 413.
 */
const MAX_DRAIN_BYTES = 8 * 1024 * 1024;
/** Request bodies up to this declared size are read whole before the handler runs. */
const SMALL_BODY_BYTES = 64 * 1024;
/** Responses up to this size (with a Content-Length) are written in one piece, not streamed. */
const SMALL_RESPONSE_BYTES = 64 * 1024;
/** A drain that takes longer than this (a stalled client) closes the socket. */
const DRAIN_TIMEOUT_MS = 5_000;
// A Host header we are willing to put in a URL; anything else becomes "localhost".
const VALID_HOST = /^(?:[A-Za-z0-9._-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;

type RequestInitWithDuplex = RequestInit & { duplex?: "half" };

/** Express keeps the full URL in `originalUrl` when a handler is mounted at a path. */
function rawUrlOf(req: IncomingMessage): string {
  const original = (req as { originalUrl?: unknown }).originalUrl;
  return typeof original === "string" ? original : (req.url ?? "/");
}

function buildUrl(req: IncomingMessage, rawUrl: string): string {
  const encrypted = (req.socket as Partial<TLSSocket> | null)?.encrypted === true;
  const host = typeof req.headers.host === "string" && VALID_HOST.test(req.headers.host) ? req.headers.host : "localhost";
  // Concatenate rather than resolve, so "//evil/x" stays a path and is not read as a host.
  if (rawUrl.startsWith("/")) return new URL(`${encrypted ? "https" : "http"}://${host}${rawUrl}`).href;
  const absolute = new URL(rawUrl); // absolute-form request target (through a proxy)
  if (absolute.protocol !== "http:" && absolute.protocol !== "https:") throw new TypeError("Unsupported request target");
  return absolute.href;
}

function buildHeaders(req: IncomingMessage): Headers {
  const headers = new Headers();
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.startsWith(":")) continue; // HTTP/2 pseudo-headers
    try {
      headers.append(name, raw[i + 1]!);
    } catch {
      // A header the fetch API refuses is left out rather than failing the request.
    }
  }
  return headers;
}

/** A request body as a web stream, and how to take its listeners off the request. */
interface IncomingBody {
  stream: ReadableStream<Uint8Array>;
  /** Stops feeding the stream (erroring it if still open), so a drain can read the request. */
  detach(): void;
}

/**
 * The request body as a web stream, pulled chunk by chunk (the socket is
 * paused while the handler does not read). Cancelling it does not destroy
 * the socket: the rest of the body is drained after the response, so the
 * client still receives an early answer such as 413.
 */
function incomingBody(req: IncomingMessage): IncomingBody {
  let settled = false;
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  const onData = (chunk: Buffer | string): void => {
    if (settled) return;
    const bytes = typeof chunk === "string" ? Buffer.from(chunk) : chunk;
    controller.enqueue(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    if ((controller.desiredSize ?? 0) <= 0) req.pause();
  };
  const onEnd = (): void => settle(() => controller.close());
  const onError = (error: unknown): void => settle(() => controller.error(error));
  const onClose = (): void =>
    settle(() => controller.error(new Error("The client closed the connection before the request body ended")));
  function settle(action: () => void): void {
    if (settled) return;
    settled = true;
    action();
  }
  const stream = new ReadableStream<Uint8Array>({
    start(c) {
      controller = c;
      req.on("data", onData);
      req.once("end", onEnd);
      req.once("error", onError);
      req.once("close", onClose);
      req.pause();
    },
    pull() {
      req.resume();
    },
    cancel() {
      settled = true;
      req.pause();
    },
  });
  return {
    stream,
    detach() {
      // Left attached, onData would pause the request again on the drain's first chunk.
      req.off("data", onData);
      req.off("end", onEnd);
      req.off("error", onError);
      req.off("close", onClose);
      settle(() => controller.error(new Error("The response was sent before the request body was read")));
    },
  };
}

/** A body an Express body parser already read (`express.json()` mounted before us). */
function parsedBody(req: IncomingMessage): BodyInit | undefined {
  if (!req.readableEnded) return undefined;
  const body = (req as { body?: unknown }).body;
  if (body === undefined || body === null) return undefined;
  const length = req.headers["content-length"];
  // Express 4 sets `req.body = {}` for a request that had no body at all.
  if (length === "0" || (length === undefined && req.headers["transfer-encoding"] === undefined)) return undefined;
  if (typeof body === "string") return body;
  if (body instanceof Uint8Array) return new Uint8Array(body);
  return JSON.stringify(body);
}

/** Whether the request declares a body small enough to read whole before the handler runs. */
function hasSmallDeclaredBody(req: IncomingMessage): boolean {
  const method = req.method?.toUpperCase();
  if (method === "GET" || method === "HEAD" || req.readableEnded) return false;
  const declared = req.headers["content-length"];
  if (declared === undefined || req.headers["transfer-encoding"] !== undefined || !/^\d+$/.test(declared)) return false;
  return Number(declared) <= SMALL_BODY_BYTES;
}

/**
 * Reads a small declared body whole: handing `Request` bytes costs far less
 * than a duplex stream pulled chunk by chunk, and a body this size is read in
 * full by every route anyway. Resolves undefined when the client goes away first.
 */
function readSmallBody(req: IncomingMessage): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let received = 0;
    const done = (body: Buffer | undefined): void => {
      req.off("data", onData);
      req.off("end", onEnd);
      req.off("close", onGone);
      req.off("error", onGone);
      resolve(body);
    };
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk);
      received += chunk.length;
    };
    const onEnd = (): void => done(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, received));
    const onGone = (): void => done(undefined);
    req.on("data", onData);
    req.once("end", onEnd);
    req.once("close", onGone);
    req.once("error", onGone);
  });
}

function toWebRequest(
  req: IncomingMessage,
  signal: AbortSignal,
  onBody: (body: IncomingBody) => void,
  smallBody?: Buffer,
): Request {
  const method = (req.method ?? "GET").toUpperCase();
  const init: RequestInitWithDuplex = { method, headers: buildHeaders(req), signal };
  if (method !== "GET" && method !== "HEAD") {
    const parsed = parsedBody(req);
    if (smallBody !== undefined) {
      // Socket data is never in a SharedArrayBuffer.
      init.body = smallBody as Uint8Array<ArrayBuffer>;
    } else if (parsed !== undefined) {
      init.body = parsed;
      (init.headers as Headers).delete("content-length");
      if (typeof parsed === "string") (init.headers as Headers).set("content-type", "application/json");
    } else if (!req.readableEnded) {
      const body = incomingBody(req);
      onBody(body);
      init.body = body.stream;
      init.duplex = "half";
    }
  }
  return new Request(buildUrl(req, rawUrlOf(req)), init);
}

/**
 * Before an answer's headers: when the client has not finished sending the
 * body, either keep the connection (the rest is short enough to drain after
 * the response) or say `Connection: close` and start discarding the body now,
 * so the socket Node closes after the response has no unread bytes (which
 * would turn its FIN into a reset that can cost the client the answer).
 */
function beforeAnswer(req: IncomingMessage, res: ServerResponse, drain: () => void): void {
  if (req.complete) return;
  const declared = req.headers["content-length"];
  const drainable = declared !== undefined && /^\d+$/.test(declared) && Number(declared) <= MAX_DRAIN_BYTES;
  if (drainable) return;
  res.setHeader("connection", "close");
  drain();
}

/**
 * Reads and discards what is left of a request body, within bounds, so the
 * connection stays usable; past them the socket is closed, once the answer is out.
 */
function drainIncoming(req: IncomingMessage, res: ServerResponse): void {
  if (req.readableEnded || req.destroyed) return;
  let bytes = 0;
  let stopped = false;
  const stop = (): void => {
    if (stopped) return;
    stopped = true;
    clearTimeout(timer);
    if (res.writableFinished) req.destroy();
    else res.once("finish", () => req.destroy());
  };
  const timer = setTimeout(stop, DRAIN_TIMEOUT_MS);
  timer.unref();
  req.on("data", (chunk: Buffer | string) => {
    bytes += chunk.length;
    if (bytes > MAX_DRAIN_BYTES) stop();
  });
  req.once("end", () => {
    clearTimeout(timer);
    // A server that began closing while this body drained closed its idle connections
    // then, when this one was still busy: close it now, or close() waits for the
    // keep-alive timeout (72 s under Fastify).
    if (serverClosing(req)) req.socket.destroy();
  });
  req.once("close", () => clearTimeout(timer));
  req.resume();
}

/** Whether the server this request came in on has stopped listening (`server.close()` was called). */
function serverClosing(req: IncomingMessage): boolean {
  const server = (req.socket as { server?: { listening?: boolean } } | null)?.server;
  return server?.listening === false;
}

/** Resolves on `drain` or `close`, whichever comes first. */
function writable(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      res.off("drain", done);
      res.off("close", done);
      resolve();
    };
    res.on("drain", done);
    res.on("close", done);
  });
}

async function pipeBody(body: ReadableStream<Uint8Array>, res: ServerResponse): Promise<void> {
  const reader = body.getReader();
  const onClose = (): void => {
    if (!res.writableFinished) reader.cancel().catch(() => {});
  };
  res.once("close", onClose);
  try {
    for (;;) {
      if (res.destroyed) {
        await reader.cancel().catch(() => {});
        return;
      }
      const { done, value } = await reader.read();
      if (done) break;
      if (res.destroyed) {
        await reader.cancel().catch(() => {});
        return;
      }
      if (!res.write(value)) await writable(res);
    }
    res.end();
  } finally {
    res.off("close", onClose);
    reader.releaseLock();
  }
}

async function writeResponse(
  response: Response,
  req: IncomingMessage,
  res: ServerResponse,
  beforeHeaders: () => void,
): Promise<void> {
  if (res.destroyed) {
    await response.body?.cancel().catch(() => {});
    return;
  }
  res.statusCode = response.status;
  if (response.statusText) res.statusMessage = response.statusText;
  response.headers.forEach((value, name) => {
    if (name !== "set-cookie") res.setHeader(name, value);
  });
  const cookies = response.headers.getSetCookie();
  if (cookies.length > 0) res.setHeader("set-cookie", cookies);
  beforeHeaders();
  if (response.body === null || req.method === "HEAD") {
    await response.body?.cancel().catch(() => {});
    res.end();
    return;
  }
  // A small body of known length (every JSON answer) goes out with the headers in one write.
  const length = Number(response.headers.get("content-length") ?? Number.NaN);
  if (length <= SMALL_RESPONSE_BYTES) {
    res.end(new Uint8Array(await response.arrayBuffer()));
    return;
  }
  await pipeBody(response.body, res);
}

function sendFallback(res: ServerResponse, status: 400 | 500, beforeHeaders: () => void): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const response = status === 400 ? errorResponse("INVALID_INPUT", "Bad request") : errorResponse("INTERNAL_ERROR", "Internal server error");
  res.statusCode = response.status;
  response.headers.forEach((value, name) => res.setHeader(name, value));
  beforeHeaders();
  void response.text().then(
    (text) => res.end(text),
    () => res.destroy(),
  );
}

function isUnderPrefix(rawUrl: string, prefix: string): boolean {
  const end = rawUrl.search(/[?#]/);
  const pathname = end === -1 ? rawUrl : rawUrl.slice(0, end);
  return prefix === "" || pathname === prefix || pathname.startsWith(`${prefix}/`);
}

/**
 * Turns a web handler (such as {@link createJobsHandler}'s) into an Express,
 * Connect or `node:http` listener.
 *
 * - The web `Request` gets the method, the full URL (Express's `originalUrl`,
 *   so mounting at a path works), the headers, and the body as a stream
 *   (`duplex: "half"`). A body already parsed by `express.json()` is passed on.
 * - Its `signal` aborts when the client disconnects before the response ends.
 * - The response body is written with backpressure (`drain`).
 * - An answer sent before the request body was read (a 413 on the declared
 *   length, say) keeps the connection alive when the rest of the body is
 *   declared and at most 8 MiB (it is drained within 5 s); otherwise it says
 *   `Connection: close` and the socket is closed after it.
 * - With `next` (Express, Connect), a URL outside the handler's `prefix` goes
 *   to `next()` instead of answering 404.
 * - Nothing here throws into the process: failures answer 400 or 500 (or end
 *   the connection once headers are out) and go to `onError`.
 *
 * @example
 * ```ts
 * const app = express();
 * app.use(toNodeHandler(createJobsHandler(storage, { authorize })));
 * // or: http.createServer(toNodeHandler(createJobsHandler(storage))).listen(3000);
 * ```
 */
export function toNodeHandler(
  handler: (request: Request) => Promise<Response>,
  options: NodeHandlerOptions = {},
): NodeHandler {
  if (typeof handler !== "function") throw new TypeError("toNodeHandler(): expected a (request: Request) => Promise<Response> function");
  const prefix = (handler as { prefix?: unknown }).prefix;
  const report = (error: unknown): void => {
    try {
      options.onError?.(error);
    } catch {
      // ignore: reporting must not fail the response
    }
  };

  async function serve(req: IncomingMessage, res: ServerResponse, next?: (error?: unknown) => void): Promise<void> {
    if (typeof next === "function" && typeof prefix === "string" && !isUnderPrefix(rawUrlOf(req), prefix)) {
      next();
      return;
    }
    const controller = new AbortController();
    res.once("close", () => {
      if (!res.writableFinished) controller.abort(new Error("The client disconnected"));
    });
    let body: IncomingBody | undefined;
    let draining = false;
    const drain = (): void => {
      if (draining) return;
      draining = true;
      body?.detach();
      drainIncoming(req, res);
    };
    const beforeHeaders = (): void => beforeAnswer(req, res, drain);
    res.once("finish", drain);
    // Writing to a connection the client closed can emit 'error': never let it crash the process.
    res.on("error", () => {});
    let smallBody: Buffer | undefined;
    if (hasSmallDeclaredBody(req) && parsedBody(req) === undefined) {
      smallBody = await readSmallBody(req);
      if (smallBody === undefined) return; // the client went away mid-body: nobody to answer
    }
    let request: Request;
    try {
      request = toWebRequest(req, controller.signal, (incoming) => (body = incoming), smallBody);
    } catch (error) {
      report(error);
      sendFallback(res, 400, beforeHeaders);
      return;
    }
    let response: Response;
    try {
      response = await handler(request);
    } catch (error) {
      report(error);
      sendFallback(res, 500, beforeHeaders);
      return;
    }
    try {
      await writeResponse(response, req, res, beforeHeaders);
    } catch (error) {
      if (!controller.signal.aborted) report(error);
      sendFallback(res, 500, beforeHeaders);
    }
  }

  return (req, res, next) => {
    serve(req, res, next).catch((error: unknown) => {
      report(error);
      try {
        // Nothing is known of the body's state here: closing is the safe answer.
        sendFallback(res, 500, () => {
          if (!req.complete) res.setHeader("connection", "close");
        });
      } catch {
        // the connection is gone
      }
    });
  };
}
