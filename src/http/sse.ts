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
  const abort = (): void => controller.abort(options.signal.reason);
  // Started before the response exists, so a watch that cannot start (no such job) throws to the caller.
  const iterator = watch(controller.signal)[Symbol.asyncIterator]();
  let heartbeat: NodeJS.Timeout | undefined;

  const stop = (): void => {
    clearInterval(heartbeat);
    heartbeat = undefined;
    options.signal.removeEventListener("abort", abort);
    controller.abort();
  };

  const body = new ReadableStream<Uint8Array>(
    {
      start(stream) {
        if (options.signal.aborted) controller.abort(options.signal.reason);
        else options.signal.addEventListener("abort", abort, { once: true });
        stream.enqueue(encoder.encode(`retry: ${RETRY_MS}\n\n`));
        // Referenced, like the watch's own poll: it lives exactly as long as the stream (whose
        // socket keeps the process up anyway), and one left behind would keep the process alive.
        heartbeat = setInterval(() => {
          try {
            stream.enqueue(encoder.encode(": keep-alive\n\n"));
          } catch {
            stop(); // the stream is already closed or errored
          }
        }, options.heartbeatMs);
      },
      // Pulled one change at a time: a slow client holds the feed back instead of piling up messages.
      async pull(stream) {
        try {
          const next = await iterator.next();
          if (next.done) {
            stop();
            stream.close();
          } else {
            stream.enqueue(encoder.encode(formatChange(next.value)));
          }
        } catch (error) {
          stop();
          stream.error(error);
        }
      },
      async cancel() {
        stop();
        await iterator.return?.().catch(() => {});
      },
    },
    { highWaterMark: 0 },
  );

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
