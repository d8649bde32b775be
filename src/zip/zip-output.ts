/**
 * Where `zipDirectory` writes an archive: a new temporary file (`wx`: never
 * one this call did not create). A small archive (a generated project's is
 * a few hundred KiB) is held in memory and written with one synchronous
 * call at the end: while the build deflates on the main thread, a write
 * stream's completions wait for the event loop, and the last of them took
 * a few milliseconds after the archive was done. A larger one spills to a
 * write stream as soon as it passes the limit.
 * @internal
 * @module
 */
import { closeSync, createWriteStream, openSync, writeSync, type WriteStream } from "node:fs";
import { finished } from "node:stream/promises";
import { Writable } from "node:stream";

/** Archives up to this size are written with one call at the end. */
export const IN_MEMORY_MAX_BYTES = 1024 * 1024;
const MIB = 1024 * 1024;

/** The archive's bytes, into `tempFile`. @internal */
export class ZipOutput extends Writable {
  readonly #tempFile: string;
  #held: Buffer[] = [];
  #heldBytes = 0;
  #stream: WriteStream | undefined;
  /** Bytes written to the file so far. */
  bytesWritten = 0;
  /** Whether this call created `tempFile` (and so must remove it on failure). */
  created = false;

  constructor(tempFile: string) {
    super({ highWaterMark: MIB });
    this.#tempFile = tempFile;
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.#stream === undefined && this.#heldBytes + chunk.length <= IN_MEMORY_MAX_BYTES) {
      this.#held.push(chunk);
      this.#heldBytes += chunk.length;
      callback();
      return;
    }
    const stream = this.#stream ?? this.#spill();
    this.bytesWritten += chunk.length;
    if (stream.write(chunk)) callback();
    else stream.once("drain", () => callback());
  }

  override _final(callback: (error?: Error | null) => void): void {
    if (this.#stream === undefined) {
      try {
        this.#writeHeld();
        callback();
      } catch (error) {
        callback(error as Error);
      }
      return;
    }
    const stream = this.#stream;
    stream.end();
    finished(stream).then(
      () => callback(),
      (error: unknown) => callback(error as Error),
    );
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    const stream = this.#stream;
    if (stream === undefined || stream.closed) {
      callback(error);
      return;
    }
    // Later errors of the destroyed stream are noise: the first failure is already reported.
    stream.on("error", () => undefined);
    stream.destroy();
    stream.once("close", () => callback(error));
  }

  /** The held bytes, written with one call into a file created here. */
  #writeHeld(): void {
    const data = Buffer.concat(this.#held, this.#heldBytes);
    this.#held = [];
    const fd = openSync(this.#tempFile, "wx");
    this.created = true;
    try {
      for (let written = 0; written < data.length; ) written += writeSync(fd, data, written);
      this.bytesWritten = data.length;
    } finally {
      closeSync(fd);
    }
  }

  /** Past the limit: a write stream from here on, starting with what was held. */
  #spill(): WriteStream {
    // 1 MiB buffer: fewer, larger writes (half the write time for thousands of small entries).
    const stream = createWriteStream(this.#tempFile, { flags: "wx", highWaterMark: MIB });
    stream.once("open", () => (this.created = true));
    stream.once("error", (error) => this.destroy(error));
    this.#stream = stream;
    for (const chunk of this.#held) stream.write(chunk);
    this.bytesWritten += this.#heldBytes;
    this.#held = [];
    return stream;
  }
}
