/**
 * A small, independent ZIP reader (central directory, stored and deflated
 * entries, ZIP64) for the demo's check of the archive. It shares no code with
 * the writer, so it catches what the writer gets wrong.
 */
import { crc32, inflateRawSync } from "node:zlib";

const EOCD_SIGNATURE = 0x06054b50;
const ZIP64_LOCATOR_SIGNATURE = 0x07064b50;
const ZIP64_EOCD_SIGNATURE = 0x06064b50;
const CENTRAL_SIGNATURE = 0x02014b50;
const LOCAL_SIGNATURE = 0x04034b50;
const EOCD_SIZE = 22;
const MAX_COMMENT = 0xffff;

/** One entry of a ZIP's central directory. */
export interface ZipEntryInfo {
  name: string;
  /** 0 = stored, 8 = deflated. */
  method: number;
  crc32: number;
  compressedSize: number;
  size: number;
  localHeaderOffset: number;
  /** Unix mode bits (`0o100755`), when the archive was made on Unix. */
  unixMode: number | undefined;
}

function corrupt(message: string): Error {
  return new Error(`Invalid ZIP: ${message}`);
}

function readUInt64(buffer: Buffer, offset: number): number {
  const value = buffer.readBigUInt64LE(offset);
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw corrupt("a 64-bit field is too large");
  return Number(value);
}

function findEndOfCentralDirectory(zip: Buffer): number {
  const stop = Math.max(0, zip.length - EOCD_SIZE - MAX_COMMENT);
  for (let offset = zip.length - EOCD_SIZE; offset >= stop; offset -= 1) {
    if (zip.readUInt32LE(offset) === EOCD_SIGNATURE && offset + EOCD_SIZE + zip.readUInt16LE(offset + 20) === zip.length) {
      return offset;
    }
  }
  throw corrupt("no end of central directory record");
}

/** The entries of the ZIP in `zip`, in central-directory order. */
export function readZipEntries(zip: Buffer): ZipEntryInfo[] {
  if (zip.length < EOCD_SIZE) throw corrupt("too short");
  const eocd = findEndOfCentralDirectory(zip);
  let count = zip.readUInt16LE(eocd + 10);
  let directorySize = zip.readUInt32LE(eocd + 12);
  let directoryOffset = zip.readUInt32LE(eocd + 16);
  if (count === 0xffff || directorySize === 0xffffffff || directoryOffset === 0xffffffff) {
    const locator = eocd - 20;
    if (locator < 0 || zip.readUInt32LE(locator) !== ZIP64_LOCATOR_SIGNATURE) throw corrupt("missing ZIP64 locator");
    const record = readUInt64(zip, locator + 8);
    if (record + 56 > zip.length || zip.readUInt32LE(record) !== ZIP64_EOCD_SIGNATURE) throw corrupt("bad ZIP64 record");
    count = readUInt64(zip, record + 32);
    directorySize = readUInt64(zip, record + 40);
    directoryOffset = readUInt64(zip, record + 48);
  }
  if (directoryOffset + directorySize > zip.length) throw corrupt("central directory out of bounds");

  const entries: ZipEntryInfo[] = [];
  let offset = directoryOffset;
  for (let index = 0; index < count; index += 1) {
    if (offset + 46 > zip.length || zip.readUInt32LE(offset) !== CENTRAL_SIGNATURE) throw corrupt(`bad central entry ${index}`);
    const madeBy = zip.readUInt16LE(offset + 4) >> 8;
    const method = zip.readUInt16LE(offset + 10);
    const crc = zip.readUInt32LE(offset + 16);
    let compressedSize = zip.readUInt32LE(offset + 20);
    let size = zip.readUInt32LE(offset + 24);
    const nameLength = zip.readUInt16LE(offset + 28);
    const extraLength = zip.readUInt16LE(offset + 30);
    const commentLength = zip.readUInt16LE(offset + 32);
    const externalAttributes = zip.readUInt32LE(offset + 38);
    let localHeaderOffset = zip.readUInt32LE(offset + 42);
    const nameStart = offset + 46;
    const name = zip.toString("utf8", nameStart, nameStart + nameLength);
    // ZIP64 extended information: only the fields whose 32-bit value is saturated, in this order.
    let extra = nameStart + nameLength;
    const extraEnd = extra + extraLength;
    while (extra + 4 <= extraEnd) {
      const id = zip.readUInt16LE(extra);
      const length = zip.readUInt16LE(extra + 2);
      if (id === 0x0001) {
        let field = extra + 4;
        if (size === 0xffffffff) {
          size = readUInt64(zip, field);
          field += 8;
        }
        if (compressedSize === 0xffffffff) {
          compressedSize = readUInt64(zip, field);
          field += 8;
        }
        if (localHeaderOffset === 0xffffffff) localHeaderOffset = readUInt64(zip, field);
      }
      extra += 4 + length;
    }
    entries.push({
      name,
      method,
      crc32: crc,
      compressedSize,
      size,
      localHeaderOffset,
      unixMode: madeBy === 3 ? externalAttributes >>> 16 : undefined,
    });
    offset = extraEnd + commentLength;
  }
  return entries;
}

/**
 * The content of `entry`, inflated and checked against its size and CRC-32.
 * @throws Error when the entry is corrupt or uses another compression method.
 */
export function extractZipEntry(zip: Buffer, entry: ZipEntryInfo): Buffer {
  const local = entry.localHeaderOffset;
  if (local + 30 > zip.length || zip.readUInt32LE(local) !== LOCAL_SIGNATURE) throw corrupt(`bad local header for ${entry.name}`);
  const start = local + 30 + zip.readUInt16LE(local + 26) + zip.readUInt16LE(local + 28);
  if (start + entry.compressedSize > zip.length) throw corrupt(`${entry.name} runs past the end`);
  const raw = zip.subarray(start, start + entry.compressedSize);
  let data: Buffer;
  if (entry.method === 0) data = raw;
  else if (entry.method === 8) data = inflateRawSync(raw);
  else throw corrupt(`${entry.name} uses compression method ${entry.method}`);
  if (data.length !== entry.size) throw corrupt(`${entry.name} is ${data.length} bytes, the directory says ${entry.size}`);
  if (crc32(data) >>> 0 !== entry.crc32) throw corrupt(`${entry.name} fails its CRC-32 check`);
  return data;
}
