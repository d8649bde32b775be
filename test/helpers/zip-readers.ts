/**
 * Independent ZIP readers for the zip tests (Info-ZIP `unzip`/`zipinfo`,
 * 7-Zip, Python's `zipfile`, yauzl), and a temporary-directory helper.
 * 7-Zip comes from npm (`7zip-bin`), so no system 7z is needed; the others
 * are checked before the run by `test/setup/preflight.ts`.
 */
import { execFile } from "node:child_process";
import { constants, existsSync } from "node:fs";
import { access, chmod, mkdtemp, rm, stat } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { buffer as readAll } from "node:stream/consumers";
import { promisify } from "node:util";
import { afterEach } from "vitest";
import { path7za } from "7zip-bin";
import yauzl from "yauzl";

const execFileAsync = promisify(execFile);

const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

/**
 * A fresh directory under the OS temp dir, removed after the test. With
 * `inMemory`, under `/dev/shm` when it exists (a tmpfs: creating tens of
 * thousands of files there is several times faster than on a disk).
 */
export async function zipTempDir(label = "ej-zip-", { inMemory = false } = {}): Promise<string> {
  const base = inMemory && existsSync("/dev/shm") ? "/dev/shm" : os.tmpdir();
  const dir = await mkdtemp(path.join(base, label));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function run(command: string, args: string[]): Promise<string> {
  const { stdout } = await execFileAsync(command, args, { maxBuffer: 256 * 1024 * 1024, env: { ...process.env, LC_ALL: "C.UTF-8" } });
  return stdout;
}

/** `unzip -t`: tests every entry's CRC; rejects (non-zero exit) on any problem. */
export function unzipTest(zipFile: string): Promise<string> {
  return run("unzip", ["-t", zipFile]);
}

let sevenZipReady: Promise<string> | undefined;

/**
 * The path of 7-Zip's `7za` from `7zip-bin`, made executable: npm does not
 * always keep the execute bit of a file that is not a declared `bin`.
 */
export function sevenZipPath(): Promise<string> {
  sevenZipReady ??= (async () => {
    try {
      await access(path7za, constants.X_OK);
    } catch {
      const { mode } = await stat(path7za); // ENOENT here: 7zip-bin has no binary for this platform
      try {
        await chmod(path7za, mode | 0o111);
      } catch (error) {
        throw new Error(`7-Zip from 7zip-bin is not executable; run: chmod +x ${path7za}`, { cause: error });
      }
    }
    return path7za;
  })();
  return sevenZipReady;
}

/** `7za t`: 7-Zip's own test of the archive; rejects on any problem. */
export async function sevenZipTest(zipFile: string): Promise<string> {
  return run(await sevenZipPath(), ["t", zipFile]);
}

/** `zipinfo` lines by entry name: `{ permissions: "-rwxr-xr-x", method: "defN" | "stor", ... }`. */
export async function zipInfo(zipFile: string): Promise<Map<string, { permissions: string; method: string }>> {
  const out = await run("zipinfo", ["-l", zipFile]);
  const result = new Map<string, { permissions: string; method: string }>();
  for (const line of out.split("\n")) {
    // -rwxr-xr-x  6.3 unx       42 b-       40 defN 80-Jan-01 00:00 bin/run
    const match = /^([-dlrwxsStT]{10})\s+\S+\s+\S+\s+\d+\s+\S+\s+\d+\s+(\S+)\s+\S+\s+\S+\s+(.+)$/.exec(line);
    if (match) result.set(match[3]!, { permissions: match[1]!, method: match[2]! });
  }
  return result;
}

/** What Python's `zipfile` sees: `testzip()` result (null when every CRC is right) and every entry. */
export interface PythonZipReport {
  testzip: string | null;
  entries: { name: string; method: number; mode: number; size: number }[];
}

const PYTHON_REPORT = `
import json, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    print(json.dumps({
        "testzip": z.testzip(),
        "entries": [{"name": i.filename, "method": i.compress_type, "mode": i.external_attr >> 16, "size": i.file_size} for i in z.infolist()],
    }))
`;

/** Reads `zipFile` with Python's `zipfile` (which decompresses every entry in `testzip()`). */
export async function pythonZipReport(zipFile: string): Promise<PythonZipReport> {
  return JSON.parse(await run("python3", ["-c", PYTHON_REPORT, zipFile])) as PythonZipReport;
}

/** One entry as yauzl reads it, with its decompressed (and CRC-checked) content. */
export interface YauzlEntry {
  name: string;
  /** 0 stored, 8 deflated. */
  method: number;
  /** Unix mode from the external attributes (`0o100755`, ...). */
  mode: number;
  /** Bytes of the extra fields in the central directory. */
  extraFieldLength: number;
  data: Buffer;
}

/** Reads every entry of `zipFile` with yauzl, contents included (yauzl checks sizes, not CRCs: see the other readers). */
export async function readWithYauzl(zipFile: string): Promise<YauzlEntry[]> {
  const zip = await yauzl.openPromise(zipFile, { lazyEntries: true });
  const entries: YauzlEntry[] = [];
  try {
    for await (const entry of zip.eachEntry()) {
      const isDirectory = entry.fileName.endsWith("/");
      const data = isDirectory ? Buffer.alloc(0) : await readAll(await zip.openReadStreamPromise(entry));
      entries.push({
        name: entry.fileName,
        method: entry.compressionMethod,
        mode: entry.externalFileAttributes >>> 16,
        extraFieldLength: entry.extraFieldLength,
        data,
      });
    }
  } finally {
    zip.close();
  }
  return entries;
}
