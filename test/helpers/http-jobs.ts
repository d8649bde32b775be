/**
 * The jobs handler of the REST tests, called with `new Request(...)`, with
 * bearer-token users, and an SSE reader for `GET /{id}/events` bodies.
 */
import { createHash } from "node:crypto";
import { createJobsHandler, type JobsAuth, type JobsHandlerOptions } from "../../src/http/index.js";
import { openStorage } from "./temp.js";

export const ORIGIN = "http://jobs.test";
export const PREFIX = "/api/v1/jobs";
export type Json = Record<string, unknown>;

export const sha256 = (content: string | Uint8Array): string => createHash("sha256").update(content).digest("hex");

/** Users by bearer token. */
const USERS: Record<string, JobsAuth> = { alice: { userId: "alice" }, bob: { userId: "bob" } };
export const authorize = (request: Request): JobsAuth => {
  const token = request.headers.get("authorization")?.replace(/^Bearer /, "") ?? "";
  const user = USERS[token];
  if (!user) throw new Error("no such token");
  return user;
};

export interface CallOptions {
  /** The caller's token. @default "alice" */
  as?: string;
  body?: unknown;
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

export async function jobsApi(storageOptions: Parameters<typeof openStorage>[0] = {}, handlerOptions: JobsHandlerOptions = {}) {
  const { storage, basePath } = await openStorage(storageOptions);
  const handler = createJobsHandler(storage, { authorize, ...handlerOptions });
  const call = (method: string, path: string, options: CallOptions = {}): Promise<Response> => {
    const headers: Record<string, string> = { authorization: `Bearer ${options.as ?? "alice"}`, ...options.headers };
    let body: string | undefined;
    if (options.body !== undefined) {
      body = JSON.stringify(options.body);
      headers["content-type"] = "application/json";
    }
    const init: RequestInit = { method, headers };
    if (body !== undefined) init.body = body;
    if (options.signal) init.signal = options.signal;
    return handler(new Request(`${ORIGIN}${PREFIX}${path}`, init));
  };
  const json = async (method: string, path: string, options: CallOptions = {}): Promise<{ status: number; body: Json }> => {
    const response = await call(method, path, options);
    return { status: response.status, body: (await response.json()) as Json };
  };
  return { storage, basePath, handler, call, json };
}

/** What one SSE block held (RFC: fields of one message, or comment lines). */
export interface SseBlock {
  id?: string;
  event?: string;
  data?: string;
  retry?: string;
  comments: string[];
  /** Every line, as received. */
  raw: string;
}

/** Reads an SSE body block by block (blocks end with a blank line). */
export class SseReader {
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
  readonly #decoder = new TextDecoder();
  #buffer = "";
  #ended = false;

  constructor(body: ReadableStream<Uint8Array>) {
    this.#reader = body.getReader();
  }

  /** The next block, or `undefined` once the body has ended. */
  async next(): Promise<SseBlock | undefined> {
    for (;;) {
      const end = this.#buffer.indexOf("\n\n");
      if (end !== -1) {
        const raw = this.#buffer.slice(0, end);
        this.#buffer = this.#buffer.slice(end + 2);
        return parseBlock(raw);
      }
      if (this.#ended) {
        if (this.#buffer !== "") throw new Error(`SSE body ended inside a block: ${JSON.stringify(this.#buffer)}`);
        return undefined;
      }
      const { done, value } = await this.#reader.read();
      if (done) this.#ended = true;
      else this.#buffer += this.#decoder.decode(value, { stream: true });
    }
  }

  /** The next block that is a message (has `data:`), skipping comments and `retry:`. */
  async nextMessage(): Promise<SseBlock | undefined> {
    for (;;) {
      const block = await this.next();
      if (block === undefined || block.data !== undefined) return block;
    }
  }

  /** Every remaining message, until the body ends. */
  async rest(): Promise<SseBlock[]> {
    const messages: SseBlock[] = [];
    for (let block = await this.nextMessage(); block; block = await this.nextMessage()) messages.push(block);
    return messages;
  }

  /** Hangs up, as a client that goes away. */
  async cancel(): Promise<void> {
    await this.#reader.cancel();
  }
}

function parseBlock(raw: string): SseBlock {
  const block: SseBlock = { comments: [], raw };
  for (const line of raw.split("\n")) {
    if (line.startsWith(":")) {
      block.comments.push(line.slice(1).trim());
      continue;
    }
    const colon = line.indexOf(":");
    const name = colon === -1 ? line : line.slice(0, colon);
    const value = colon === -1 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (name === "data") block.data = block.data === undefined ? value : `${block.data}\n${value}`;
    else if (name === "id" || name === "event" || name === "retry") block[name] = value;
    else throw new Error(`unexpected SSE field ${JSON.stringify(name)} in ${JSON.stringify(raw)}`);
  }
  return block;
}
