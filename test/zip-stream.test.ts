import { randomBytes } from "node:crypto";
import { readdirSync, readlinkSync } from "node:fs";
import { mkdir, readdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { Writable } from "node:stream";
import { buffer as readAll } from "node:stream/consumers";
import { pipeline } from "node:stream/promises";
import { describe, expect, it, vi } from "vitest";
import { isJobStorageError } from "../src/errors.js";
import { createZipStream } from "../src/zip/index.js";
import { pythonZipReport, readWithYauzl, unzipTest, zipTempDir } from "./helpers/zip-readers.js";

async function writeFiles(dir: string, files: Record<string, string | Buffer>): Promise<void> {
  for (const [name, data] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(dir, name)), { recursive: true });
    await writeFile(path.join(dir, name), data);
  }
}

/** How many of this process's file descriptors are open on files below `dir`. */
function openFilesBelow(dir: string): number {
  let count = 0;
  for (const fd of readdirSync("/proc/self/fd")) {
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`).startsWith(`${dir}/`)) count += 1;
    } catch {
      // closed while listing
    }
  }
  return count;
}

describe("createZipStream", () => {
  it.each([
    { label: "main thread", workerThreads: 0 },
    { label: "2 worker threads", workerThreads: 2 },
  ])("streams an archive the readers accept, with the expected entries and contents ($label)", async ({ workerThreads }) => {
    const root = await zipTempDir();
    const dir = path.join(root, "project");
    const files = {
      "src/app.ts": "export function app() { return 'hello'; }\n".repeat(30),
      ".env.example": "PORT=3000\n",
      "public/favicon.ico": randomBytes(3000),
      "large.log": "GET /index.html 200\n".repeat(100_000), // 2 MB: streamed through yazl
    };
    await writeFiles(dir, files);

    const zip = await readAll(createZipStream(dir, { workerThreads }));
    const zipFile = path.join(root, "streamed.zip");
    await writeFile(zipFile, zip);

    expect(await unzipTest(zipFile)).toContain("No errors detected");
    expect((await pythonZipReport(zipFile)).testzip).toBeNull();
    const entries = await readWithYauzl(zipFile);
    expect(entries.map((entry) => entry.name)).toEqual([".env.example", "large.log", "public/favicon.ico", "src/app.ts"]);
    for (const entry of entries) expect(entry.data.equals(Buffer.from(files[entry.name as keyof typeof files])), entry.name).toBe(true);
    expect(entries.map((entry) => entry.method)).toEqual([0, 8, 0, 8]); // .env.example is under 64 bytes
  });

  it("emits ENOENT for a missing directory", async () => {
    const root = await zipTempDir();
    const error: unknown = await readAll(createZipStream(path.join(root, "missing"))).catch((e: unknown) => e);
    expect((error as NodeJS.ErrnoException).code).toBe("ENOENT");
  });

  it("throws INVALID_INPUT synchronously for invalid options", async () => {
    const root = await zipTempDir();
    let thrown: unknown;
    try {
      createZipStream(root, { compressionLevel: -1 });
    } catch (error) {
      thrown = error;
    }
    expect(isJobStorageError(thrown, "INVALID_INPUT")).toBe(true);
    expect((thrown as Error).message).toContain("compressionLevel");
  });

  it("is destroyed with the abort reason", async () => {
    const root = await zipTempDir();
    const dir = path.join(root, "project");
    await writeFiles(dir, Object.fromEntries(Array.from({ length: 400 }, (_, index) => [`f${index}.txt`, `file ${index}\n`.repeat(40)])));
    const controller = new AbortController();
    const reason = new Error("client went away");
    const stream = createZipStream(dir, {
      signal: controller.signal,
      onProgress: ({ entries }) => entries === 3 && controller.abort(reason),
    });
    const error: unknown = await readAll(stream).catch((e: unknown) => e);
    expect(error).toBe(reason);
    expect(stream.destroyed).toBe(true);
  });

  it("stops reading and closes every file when the consumer destroys the stream", async () => {
    const root = await zipTempDir();
    const dir = path.join(root, "project");
    await writeFiles(dir, {
      "a-small.txt": "small\n",
      "b-large.bin": randomBytes(4 * 1024 * 1024),
      "c-large.bin": randomBytes(4 * 1024 * 1024),
      "d-small.txt": "small\n",
    });
    const progress: number[] = [];
    const stream = createZipStream(dir, { onProgress: ({ entries }) => progress.push(entries) });
    let received = 0;
    // A consumer that gives up after the first 64 KiB.
    await pipeline(
      stream,
      new Writable({
        write(chunk: Buffer, _encoding, callback) {
          received += chunk.length;
          callback(received > 64 * 1024 ? new Error("consumer gave up") : null);
        },
      }),
    ).catch(() => undefined);

    expect(stream.destroyed).toBe(true);
    await vi.waitFor(() => expect(openFilesBelow(dir)).toBe(0));
    expect(progress.length).toBeLessThan(4);
    expect(await readdir(root)).toEqual(["project"]);
  });
});
