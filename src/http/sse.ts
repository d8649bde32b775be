/**
 * A job's change feed as a Server-Sent Events response (`GET /{id}/events`).
 * One message per change, with no `event:` field, so `EventSource.onmessage`
 * receives them all; `id:` is the change's `seq`, so a reconnecting
 * EventSource resumes with `Last-Event-ID` and misses nothing.
 * @internal
 */
import type { JobChange } from "../manager/types.js";
import { serializeChange } from "./serialize.js";

/** How long a reconnecting EventSource waits (the `retry:` field). */
const RETRY_MS = 2000;

const encoder = new TextEncoder();

/** One SSE message: `id: <seq>` and the change as one line of JSON. */
export function formatChange(change: JobChange): string {
  return `id: ${change.seq}\ndata: ${JSON.stringify(serializeChange(change))}\n\n`;
}

export interface SseOptions {
  /** The request's signal: a client that goes away ends the watch. */
  signal: AbortSignal;
  /** Interval of the `: keep-alive` comment, in ms. */
  heartbeatMs: number;
}

/**
 * Streams `watch(signal)` as SSE (`watch` is called at once: what it throws, this throws) until it ends (the job's terminal status),
 * then closes the body. The watch's signal aborts when the request's does or
 * when the body is cancelled, and the heartbeat stops with it, so a client
 * that leaves frees the watcher and the timer at once.
 */
export function sseResponse(watch: (signal: AbortSignal) => AsyncIterable<JobChange>, options: SseOptions): Response {
  const controller = new AbortController();
  // Started before the response exists, so a watch that cannot start (no such job) throws to the caller.
  const iterator = watch(controller.signal)[Symbol.asyncIterator]();
  let heartbeat: NodeJS.Timeout | undefined;

  /** Ends the watch and the heartbeat, synchronously: the client left, or the feed ended. */
  const stop = (): void => {
    clearInterval(heartbeat);
    heartbeat = undefined;
    options.signal.removeEventListener("abort", stop);
    controller.abort();
  };

  let cancelled = false;
  const send = (stream: ReadableStreamDefaultController<Uint8Array>, text: string): void => {
    if (!cancelled) stream.enqueue(encoder.encode(text));
  };

  /**
   * Reads the watch eagerly: the next change is awaited the moment one is sent, so the feed is
   * always waiting for a commit while the client is connected. (Pulling only when the client
   * reads left the watch parked between a change and its next wait, and a commit in that gap
   * was not noticed until another one came: see the report on `ChangeFeed`.) The messages are
   * small and bounded by the job's writes, so a slow client costs little memory.
   */
  const pump = async (stream: ReadableStreamDefaultController<Uint8Array>): Promise<void> => {
    try {
      for (let next = await iterator.next(); !next.done; next = await iterator.next()) send(stream, formatChange(next.value));
      stop();
      if (!cancelled) stream.close();
    } catch (error) {
      stop();
      if (!cancelled) stream.error(error);
    }
  };

  const body = new ReadableStream<Uint8Array>({
    start(stream) {
      if (options.signal.aborted) {
        stop();
        stream.close();
        return;
      }
      options.signal.addEventListener("abort", stop, { once: true });
      send(stream, `retry: ${RETRY_MS}\n\n`);
      // Referenced, like the watch's own poll: it lives exactly as long as the stream (whose
      // socket keeps the process up anyway), and one left behind would keep the process alive.
      heartbeat = setInterval(() => send(stream, ": keep-alive\n\n"), options.heartbeatMs);
      void pump(stream);
    },
    cancel() {
      cancelled = true;
      stop();
    },
  });

  return new Response(body, {
    status: 200,
    headers: {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-cache",
      "x-accel-buffering": "no",
      "x-content-type-options": "nosniff",
    },
  });
}
