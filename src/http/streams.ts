/**
 * A Node.js readable as a web `ReadableStream`, pulled one chunk at a time
 * (so a slow client never makes the whole file sit in memory), and destroyed
 * when the consumer cancels.
 * @internal
 */
import type { Readable } from "node:stream";

export function toWebStream(readable: Readable): ReadableStream<Uint8Array> {
  const iterator = readable[Symbol.asyncIterator]() as AsyncIterator<Buffer | string>;
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        try {
          const next = await iterator.next();
          if (next.done) controller.close();
          else controller.enqueue(typeof next.value === "string" ? Buffer.from(next.value) : next.value);
        } catch (error) {
          controller.error(error);
        }
      },
      async cancel() {
        readable.destroy();
        await iterator.return?.().catch(() => {});
      },
    },
    { highWaterMark: 0 },
  );
}
