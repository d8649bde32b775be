/**
 * Deciding whether an entry is worth deflating.
 * @internal
 * @module
 */
import { promisify } from "node:util";
import { deflateRaw, deflateRawSync } from "node:zlib";

const deflateRawAsync = promisify(deflateRaw);

/**
 * Extensions (lower case, without the dot) of formats that are already
 * compressed: images, fonts, archives, audio, video, PDF, Java/Android
 * archives, Office documents. Entries with these extensions are stored.
 * @internal
 */
export const COMPRESSED_EXTENSIONS: ReadonlySet<string> = new Set([
  // images
  "png", "jpg", "jpeg", "gif", "webp", "avif", "heic", "heif", "jxl", "ico", "icns",
  // fonts
  "woff", "woff2",
  // archives and compressed streams
  "zip", "gz", "tgz", "bz2", "tbz2", "xz", "txz", "zst", "lz", "lz4", "lzma", "br", "7z", "rar", "cab",
  // audio and video
  "mp3", "mp4", "m4a", "m4v", "aac", "ogg", "oga", "ogv", "opus", "flac", "mov", "webm", "mkv", "avi",
  // documents and packages built on ZIP or deflate
  "pdf", "jar", "war", "ear", "apk", "aab", "ipa", "whl", "nupkg", "vsix", "xpi", "crx",
  "docx", "xlsx", "pptx", "odt", "ods", "odp", "epub",
]);

/**
 * Deflating must save at least 5 % of the bytes, otherwise the entry is
 * stored: random data, and formats not in {@link COMPRESSED_EXTENSIONS}.
 * @internal
 */
export const MAX_DEFLATE_RATIO = 0.95;

/** Bytes of a large file that are deflated (at level 1) to judge the whole file. @internal */
export const SAMPLE_BYTES = 64 * 1024;

/** Bytes of a small file whose byte entropy is measured before deflating it. @internal */
export const ENTROPY_PROBE_BYTES = 4096;
/** Files smaller than this are deflated without a probe: the probe would not save anything. @internal */
export const MIN_PROBE_FILE_BYTES = 8 * 1024;
/** Order-0 entropy, in bits per byte, from which a probe sample is deflated. @internal */
export const HIGH_ENTROPY_BITS = 7;
/**
 * Order-0 entropy from which data is taken as random without a probe: 4 KiB
 * of random bytes measure 7.95 (the estimate runs about 0.045 low on 4 KiB),
 * text and code 4 to 5.5, base64 6.
 * @internal
 */
export const RANDOM_ENTROPY_BITS = 7.9;
/**
 * Bytes of a high-entropy small file deflated at level 1 to confirm it does
 * not compress (deflate costs about as much on random data as on text, so the
 * sample stays small).
 * @internal
 */
export const PROBE_SAMPLE_BYTES = 4096;

/**
 * Whether `name` (an entry name) has the extension of an already-compressed format.
 * @example
 * ```ts
 * hasCompressedExtension("assets/logo.PNG"); // true
 * hasCompressedExtension("src/index.ts");    // false
 * ```
 * @internal
 */
export function hasCompressedExtension(name: string): boolean {
  const base = name.slice(name.lastIndexOf("/") + 1);
  const dot = base.lastIndexOf(".");
  if (dot <= 0) return false;
  return COMPRESSED_EXTENSIONS.has(base.slice(dot + 1).toLowerCase());
}

/**
 * Whether deflating `original` into `deflatedLength` bytes is worth it
 * (saves more than 5 %).
 * @internal
 */
export function worthDeflating(originalLength: number, deflatedLength: number): boolean {
  return deflatedLength <= originalLength * MAX_DEFLATE_RATIO;
}

/**
 * Order-0 (byte-frequency) entropy of `data`, in bits per byte: about 8 for
 * random or compressed data, 4 to 5.5 for text and source code.
 * @internal
 */
export function byteEntropy(data: Uint8Array): number {
  if (data.length === 0) return 0;
  const counts = new Uint32Array(256);
  for (const byte of data) counts[byte]! += 1;
  let entropy = 0;
  for (const count of counts) {
    if (count === 0) continue;
    const p = count / data.length;
    entropy -= p * Math.log2(p);
  }
  return entropy;
}

/**
 * Whether a small file is worth a full deflate (which, on random data, costs
 * as much as on text and saves nothing). Its first 4 KiB are measured: below
 * 7 bits per byte (text, code, most binaries) it is deflated; from 7.9 (random,
 * encrypted or compressed data) it is stored; in between, a level-1 deflate
 * of those 4 KiB decides (synchronous: 4 KiB take tens of microseconds, less
 * than a thread-pool round trip). Text and source code pay one byte histogram.
 * @internal
 */
export function smallFileMayCompress(data: Buffer): boolean {
  if (data.length < MIN_PROBE_FILE_BYTES) return true;
  const entropy = byteEntropy(data.subarray(0, ENTROPY_PROBE_BYTES));
  if (entropy < HIGH_ENTROPY_BITS) return true;
  if (entropy >= RANDOM_ENTROPY_BITS) return false;
  const sample = data.subarray(0, PROBE_SAMPLE_BYTES);
  return worthDeflating(sample.length, deflateRawSync(sample, { level: 1 }).length);
}

/**
 * Judges whether data starting with `sample` (of a large file) compresses:
 * deflates the sample at level 1 on the thread pool and compares sizes.
 * @internal
 */
export async function sampleCompresses(sample: Buffer): Promise<boolean> {
  if (sample.length === 0) return false;
  const deflated = await deflateRawAsync(sample, { level: 1 });
  return worthDeflating(sample.length, deflated.length);
}

/** Whether `data` starts with `#!` (a script: archived as executable). @internal */
export function startsWithShebang(data: Uint8Array): boolean {
  return data.length >= 2 && data[0] === 0x23 && data[1] === 0x21;
}
