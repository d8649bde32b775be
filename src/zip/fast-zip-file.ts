/**
 * The one place that reaches into yazl's internals, for two things yazl 3
 * cannot do through its public API.
 *
 * 1. Adding data whose CRC-32 is known, possibly deflated already. yazl's
 *    `addBuffer()` deflates what it is given (or stores it with
 *    `compress: false`) and always computes the CRC-32 in JavaScript (about
 *    250 MB/s, on the main thread); the stream methods do the same through
 *    their own single `DeflateRaw`. To deflate small files in parallel and
 *    checksum them with the native `zlib.crc32` (about 10x faster):
 *    - {@link FastZipFile.addPrecomputed} calls the public
 *      `addBuffer(<empty>, name, { compress: false, mtime, mode })` and,
 *      between the moment yazl creates the entry and the moment it writes its
 *      local header, gives the entry the real CRC-32, sizes and compression
 *      method, and makes its data pump write the real bytes first (advancing
 *      yazl's `outputStreamCursor` by as many bytes, as yazl's own pump does);
 *    - {@link FastZipFile.addDeflatedStream} calls the public
 *      `addReadStreamLazy(name, { compress: false, ... })` with a stream that
 *      is already deflated (see `parallel-deflate.ts`): the entry answers
 *      method 8, and its data descriptor, built once the stream has ended,
 *      takes the CRC-32 and size of the original data.
 *
 * 2. Many entries. yazl looks for the next entry to write by scanning
 *    `entries` from the start on every step, which is quadratic: 70,000 tiny
 *    entries take about 45 s. {@link FastZipFile} keeps only the entries not
 *    yet written in `entries` while entries are added, and puts the complete,
 *    ordered list back in `end()`, before yazl writes the central directory.
 *    Entries moved out also drop their `doFileDataPump` closure, which holds
 *    the entry's data: otherwise every byte added stays in memory until the
 *    whole `ZipFile` is garbage.
 *
 * Both work by wrapping `push` on this instance's `entries` array (yazl
 * pushes each new entry there, then may write its header synchronously).
 * Nothing global is changed: other `ZipFile`s in the process are untouched.
 *
 * These are yazl's private members, so `package.json` pins yazl to exactly
 * {@link YAZL_VERIFIED_VERSION}, and `test/zip-yazl-pin.test.ts` fails when
 * the installed yazl is any other version: moving the pin means re-reading
 * yazl's `index.js` against the members listed below. For hosts that override
 * the pin, {@link fastZipFileSupported} still checks once per process, by
 * building a small archive and reading it back, that the installed yazl
 * behaves this way; callers use a plain `ZipFile` (and let yazl checksum and
 * deflate) when it does not.
 *
 * @internal
 * @module
 */
import { Readable, type PassThrough } from "node:stream";
import { buffer } from "node:stream/consumers";
import { crc32, deflateRawSync, inflateRawSync } from "node:zlib";
import { ZipFile } from "yazl";

/**
 * The yazl version whose internals this module was checked against (its
 * `index.js`: `ZipFile#entries`, `#outputStreamCursor`, `Entry#state`,
 * `Entry.FILE_DATA_DONE`, `#setFileDataPumpFunction`, `#doFileDataPump`,
 * `#getCompressionMethod`, `#getDataDescriptor`, `#crc32`, `#uncompressedSize`,
 * `#compressedSize`). `package.json` pins exactly this version.
 * @internal
 */
export const YAZL_VERIFIED_VERSION = "3.3.1";

/** The members of yazl's private `Entry` that are read or replaced here. */
interface YazlEntry {
  state: number;
  crc32: number | null;
  uncompressedSize: number | null;
  compressedSize: number | null;
  doFileDataPump?: unknown;
  getCompressionMethod(): number;
  setFileDataPumpFunction(pump: () => void): void;
  getDataDescriptor(): Buffer;
}

/** The members of yazl's `ZipFile` that are read or replaced here. */
interface YazlZipFileInternals {
  entries: YazlEntry[];
  outputStreamCursor: number;
}

/** An entry's data and what is known about it. @internal */
export interface PrecomputedEntry {
  /** The bytes to store: the original data, or its raw deflate stream when `deflated`. */
  data: Buffer;
  deflated: boolean;
  /** CRC-32 of the original data. */
  crc32: number;
  /** Length of the original data in bytes. */
  uncompressedSize: number;
  mtime: Date;
  mode: number;
  forceDosTimestamp: boolean;
}

/** Entry options of {@link FastZipFile.addDeflatedStream}. @internal */
export interface DeflatedStreamEntry {
  mtime: Date;
  mode: number;
  forceDosTimestamp: boolean;
  /** Gives the deflated stream when yazl reaches the entry (as `addReadStreamLazy`). */
  open: (callback: (error: unknown, stream?: NodeJS.ReadableStream) => void) => void;
  /** The CRC-32 and size of the original data, known once the stream has ended. */
  result: () => { crc32: number; uncompressedSize: number } | undefined;
}

type Pending = { kind: "buffer"; entry: PrecomputedEntry } | { kind: "stream"; entry: DeflatedStreamEntry };

const STORE_METHOD = 0;
const DEFLATE_METHOD = 8;
const EMPTY = Buffer.alloc(0);

/**
 * A yazl `ZipFile` that also takes data with a known CRC-32 (deflated or not)
 * and stays linear in the number of entries. Check {@link fastZipFileSupported}
 * before use.
 * @internal
 */
export class FastZipFile extends ZipFile {
  #pending: Pending | undefined;
  /** Entries yazl has written completely, in order (moved out of `entries`). */
  #written: YazlEntry[] = [];
  /** `Entry.FILE_DATA_DONE`, read from yazl's own `Entry` constructor. */
  #doneState: number | undefined;

  constructor() {
    super();
    const entries = this.#internals().entries;
    Object.defineProperty(entries, "push", {
      configurable: true,
      writable: true,
      value: (...items: YazlEntry[]): number => {
        for (const entry of items) this.#onNewEntry(entry);
        // Entries yazl has finished leave the front of the list it scans.
        const done = this.#doneState;
        if (done !== undefined) {
          while (entries.length > 0 && entries[0]!.state === done) {
            const written = entries.shift()!;
            delete written.doFileDataPump; // called once, already; it holds the entry's data
            this.#written.push(written);
          }
        }
        return Array.prototype.push.apply(entries, items);
      },
    });
  }

  #internals(): YazlZipFileInternals {
    return this as unknown as YazlZipFileInternals;
  }

  #onNewEntry(entry: YazlEntry): void {
    if (this.#doneState === undefined) {
      const done = (entry.constructor as { FILE_DATA_DONE?: unknown }).FILE_DATA_DONE;
      if (typeof done === "number") this.#doneState = done;
    }
    const pending = this.#pending;
    if (pending === undefined) return;
    this.#pending = undefined;
    if (pending.kind === "stream") {
      this.#prepareStreamEntry(entry, pending.entry);
      return;
    }
    const { data, deflated } = pending.entry;
    entry.crc32 = pending.entry.crc32;
    entry.uncompressedSize = pending.entry.uncompressedSize;
    entry.getCompressionMethod = () => (deflated ? DEFLATE_METHOD : STORE_METHOD);
    // yazl registers a pump that writes the (empty) buffer it was given; the
    // local header, written just before the pump runs, needs the real size.
    const setFileDataPumpFunction = entry.setFileDataPumpFunction.bind(entry);
    entry.setFileDataPumpFunction = (pump: () => void): void => {
      entry.compressedSize = data.length;
      setFileDataPumpFunction(() => {
        this.output.write(data);
        this.#internals().outputStreamCursor += data.length;
        pump();
      });
    };
  }

  #prepareStreamEntry(entry: YazlEntry, pending: DeflatedStreamEntry): void {
    entry.getCompressionMethod = () => DEFLATE_METHOD;
    // yazl sets `crc32` and `uncompressedSize` from the (deflated) bytes it
    // saw, then builds the data descriptor: the original's values go in first.
    const getDataDescriptor = entry.getDataDescriptor.bind(entry);
    entry.getDataDescriptor = (): Buffer => {
      const result = pending.result();
      if (result === undefined) {
        this.emit("error", new Error("a deflated stream ended without its CRC-32"));
        return EMPTY;
      }
      entry.crc32 = result.crc32;
      entry.uncompressedSize = result.uncompressedSize;
      return getDataDescriptor();
    };
  }

  /** yazl's output, which is a `PassThrough` (typed as a bare `ReadableStream` upstream). */
  get output(): PassThrough {
    return this.outputStream as PassThrough;
  }

  /**
   * Adds an entry whose CRC-32 and size are known: `entry.data` is written as
   * is, as a deflated entry when `entry.deflated`, else as a stored one.
   * @throws {Error} when the installed yazl did not create the entry as expected
   * (check {@link fastZipFileSupported} first).
   */
  addPrecomputed(metadataPath: string, entry: PrecomputedEntry): void {
    this.#pending = { kind: "buffer", entry };
    let applied: boolean;
    try {
      this.addBuffer(EMPTY, metadataPath, {
        compress: false,
        mtime: entry.mtime,
        mode: entry.mode,
        forceDosTimestamp: entry.forceDosTimestamp,
      });
    } finally {
      applied = this.#pending === undefined;
      this.#pending = undefined;
    }
    if (!applied) throw new Error("yazl internals changed: a precomputed entry could not be added");
  }

  /**
   * Adds an entry whose data comes deflated already, from `entry.open()`,
   * with its CRC-32 and size known once the stream has ended.
   * @throws {Error} when the installed yazl did not create the entry as expected.
   */
  addDeflatedStream(metadataPath: string, entry: DeflatedStreamEntry): void {
    this.#pending = { kind: "stream", entry };
    let applied: boolean;
    try {
      const { mtime, mode, forceDosTimestamp, open } = entry;
      this.addReadStreamLazy(metadataPath, { compress: false, mtime, mode, forceDosTimestamp }, (callback) =>
        open((error, stream) => callback(error, stream as NodeJS.ReadableStream)),
      );
    } finally {
      applied = this.#pending === undefined;
      this.#pending = undefined;
    }
    if (!applied) throw new Error("yazl internals changed: a deflated stream entry could not be added");
  }

  /** Puts every entry back, in order, then ends as yazl does. */
  override end(...args: Parameters<ZipFile["end"]>): void {
    const internals = this.#internals();
    internals.entries = this.#written.concat(internals.entries);
    this.#written = [];
    super.end(...args);
  }
}

let supported: Promise<boolean> | undefined;

/**
 * Whether {@link FastZipFile} works with the installed yazl. Builds a small
 * archive in memory with every kind of entry and checks every local header,
 * data descriptor and central-directory record (names, order, methods, CRCs,
 * sizes, offsets) and every entry's data. The answer is cached.
 * @internal
 */
export function fastZipFileSupported(): Promise<boolean> {
  supported ??= selfTest().catch(() => false);
  return supported;
}

type SampleKind = "deflated" | "yazl" | "stored" | "stream";

async function selfTest(): Promise<boolean> {
  const samples: { text: string; kind: SampleKind }[] = [
    { text: "first entry, precomputed and deflated ".repeat(8), kind: "deflated" },
    { text: "second entry, added by yazl itself", kind: "yazl" },
    { text: "third entry, a deflated stream ".repeat(8), kind: "stream" },
    { text: "fourth entry, precomputed and stored", kind: "stored" },
    { text: "fifth entry, precomputed and deflated ".repeat(8), kind: "deflated" },
  ];
  const zip = new FastZipFile();
  const options = { mtime: new Date(1980, 0, 1), mode: 0o100644, forceDosTimestamp: true };
  const failed = new Promise<never>((_, reject) => zip.once("error", reject));
  samples.forEach(({ text, kind }, index) => {
    const data = Buffer.from(text);
    const known = { crc32: crc32(data), uncompressedSize: data.length };
    if (kind === "yazl") {
      zip.addBuffer(data, `e${index}`, { ...options, compress: false });
    } else if (kind === "stream") {
      const deflated = deflateRawSync(data);
      zip.addDeflatedStream(`e${index}`, {
        ...options,
        open: (callback) => callback(null, Readable.from([deflated.subarray(0, 10), deflated.subarray(10)])),
        result: () => known,
      });
    } else {
      zip.addPrecomputed(`e${index}`, { ...options, ...known, data: kind === "deflated" ? deflateRawSync(data) : data, deflated: kind === "deflated" });
    }
  });
  zip.end();
  const bytes = await Promise.race([buffer(zip.outputStream as Readable), failed]);
  return archiveMatches(bytes, samples);
}

/** Reads `bytes` as a ZIP and compares every entry with `samples`. */
function archiveMatches(bytes: Buffer, samples: { text: string; kind: SampleKind }[]): boolean {
  const eocd = bytes.length - 22;
  if (bytes.readUInt32LE(eocd) !== 0x06054b50 || bytes.readUInt16LE(eocd + 10) !== samples.length) return false;
  let central = bytes.readUInt32LE(eocd + 16);
  let expectedLocal = 0;
  for (const [index, { text, kind }] of samples.entries()) {
    const data = Buffer.from(text);
    const method = kind === "deflated" || kind === "stream" ? DEFLATE_METHOD : STORE_METHOD;
    if (bytes.readUInt32LE(central) !== 0x02014b50) return false;
    const nameLength = bytes.readUInt16LE(central + 28);
    const local = bytes.readUInt32LE(central + 42);
    const compressedSize = bytes.readUInt32LE(central + 20);
    const streamed = kind === "stream";
    const ok =
      local === expectedLocal &&
      bytes.toString("utf8", central + 46, central + 46 + nameLength) === `e${index}` &&
      bytes.readUInt16LE(central + 10) === method &&
      bytes.readUInt32LE(central + 16) === crc32(data) &&
      bytes.readUInt32LE(central + 24) === data.length &&
      bytes.readUInt32LE(local) === 0x04034b50 &&
      bytes.readUInt16LE(local + 8) === method &&
      // A streamed entry's sizes follow its data, in a data descriptor.
      bytes.readUInt32LE(local + 14) === (streamed ? 0 : crc32(data)) &&
      bytes.readUInt32LE(local + 18) === (streamed ? 0 : compressedSize) &&
      bytes.readUInt32LE(local + 22) === (streamed ? 0 : data.length);
    if (!ok) return false;
    const start = local + 30 + bytes.readUInt16LE(local + 26) + bytes.readUInt16LE(local + 28);
    const stored = bytes.subarray(start, start + compressedSize);
    if (!(method === STORE_METHOD ? stored : inflateRawSync(stored)).equals(data)) return false;
    expectedLocal = start + compressedSize;
    if (streamed) {
      const descriptor = expectedLocal;
      const descriptorOk =
        bytes.readUInt32LE(descriptor) === 0x08074b50 &&
        bytes.readUInt32LE(descriptor + 4) === crc32(data) &&
        bytes.readUInt32LE(descriptor + 8) === compressedSize &&
        bytes.readUInt32LE(descriptor + 12) === data.length;
      if (!descriptorOk) return false;
      expectedLocal += 16;
    }
    central += 46 + nameLength + bytes.readUInt16LE(central + 30) + bytes.readUInt16LE(central + 32);
  }
  return expectedLocal === bytes.readUInt32LE(eocd + 16);
}
