import { randomBytes } from "node:crypto";
import { mkdir, readFile, readdir, rm, symlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { isJobStorageError } from "../src/errors.js";
import { zipDirectory } from "../src/zip/index.js";
import { zipTempDir } from "./helpers/zip-readers.js";

/**
 * `count` files `f0000.txt`... of `sizeBytes` each (small text by default) in a
 * fresh directory; returns it and an empty output directory.
 */
async function manyFiles(count: number, sizeBytes?: number): Promise<{ root: string; dir: string; outDir: string }> {
  const root = await zipTempDir();
  const dir = path.join(root, "project");
  const outDir = path.join(root, "out");
  await mkdir(dir);
  await mkdir(outDir);
  const names = Array.from({ length: count }, (_, index) => `f${String(index).padStart(4, "0")}.txt`);
  for (let start = 0; start < count; start += 100) {
    await Promise.all(
      names.slice(start, start + 100).map((name) => writeFile(path.join(dir, name), sizeBytes === undefined ? `${name}\n`.repeat(20) : randomBytes(sizeBytes))),
    );
  }
  return { root, dir, outDir };
}

/** Small files on the main thread (0) or in worker threads. */
const THREADS = [
  { label: "main thread", workerThreads: 0 },
  { label: "2 worker threads", workerThreads: 2 },
];

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error("expected a rejection");
    },
    (error: unknown) => error,
  );
}

describe("zipDirectory failures leave no partial output", () => {
  it("rejects with ENOENT when the output directory is missing", async () => {
    const { root, dir } = await manyFiles(3);
    const error = await rejection(zipDirectory(dir, path.join(root, "missing", "project.zip")));
    expect((error as NodeJS.ErrnoException).code).toBe("ENOENT");
    expect((await readdir(root)).sort()).toEqual(["out", "project"]);
  });

  it("rejects with ENOENT when the directory to zip is missing", async () => {
    const { root, outDir } = await manyFiles(0);
    const error = await rejection(zipDirectory(path.join(root, "nope"), path.join(outDir, "project.zip")));
    expect((error as NodeJS.ErrnoException).code).toBe("ENOENT");
    expect(await readdir(outDir)).toEqual([]);
  });

  it("rejects with the abort reason when aborted mid-way, and removes the temporary file", async () => {
    const { dir, outDir } = await manyFiles(600);
    const controller = new AbortController();
    let progressCalls = 0;
    const error = await rejection(
      zipDirectory(dir, path.join(outDir, "project.zip"), {
        signal: controller.signal,
        onProgress: ({ entries }) => {
          progressCalls += 1;
          if (entries === 10) controller.abort();
        },
      }),
    );
    expect((error as Error).name).toBe("AbortError");
    expect(progressCalls).toBe(10);
    expect(await readdir(outDir)).toEqual([]);
  });

  it("rejects with a custom abort reason", async () => {
    const { dir, outDir } = await manyFiles(600);
    const controller = new AbortController();
    const reason = new Error("job deleted");
    const error = await rejection(
      zipDirectory(dir, path.join(outDir, "project.zip"), {
        signal: controller.signal,
        onProgress: ({ entries }) => entries === 5 && controller.abort(reason),
      }),
    );
    expect(error).toBe(reason);
    expect(await readdir(outDir)).toEqual([]);
  });

  it("rejects at once with an already-aborted signal", async () => {
    const { dir, outDir } = await manyFiles(3);
    const error = await rejection(zipDirectory(dir, path.join(outDir, "project.zip"), { signal: AbortSignal.abort() }));
    expect((error as Error).name).toBe("AbortError");
    expect(await readdir(outDir)).toEqual([]);
  });

  // 200 files of 100 KiB: the last ones are far past the read-ahead window
  // (16 batches of at most 512 KiB) when the first entry is written.
  it.each(THREADS)("rejects with ENOENT when a file is removed mid-way, keeping the previous archive ($label)", async ({ workerThreads }) => {
    const { dir, outDir } = await manyFiles(200, 100 * 1024);
    const zipFile = path.join(outDir, "project.zip");
    await writeFile(zipFile, "the previous archive");
    let removed: Promise<void> | undefined;
    const error = await rejection(
      zipDirectory(dir, zipFile, {
        compressionLevel: 0,
        workerThreads,
        onProgress: ({ entries }) => {
          if (entries === 1) removed = rm(path.join(dir, "f0199.txt"));
        },
      }),
    );
    await removed;
    expect((error as NodeJS.ErrnoException).code).toBe("ENOENT");
    expect(await readdir(outDir)).toEqual(["project.zip"]);
    expect(await readFile(zipFile, "utf8")).toBe("the previous archive");
  });

  it.each(THREADS)("refuses a file swapped for a symbolic link mid-way with INVALID_PATH ($label)", async ({ workerThreads }) => {
    const { root, dir, outDir } = await manyFiles(200, 100 * 1024);
    await writeFile(path.join(root, "secret.txt"), "top secret");
    let swapped: Promise<void> | undefined;
    const error = await rejection(
      zipDirectory(dir, path.join(outDir, "project.zip"), {
        compressionLevel: 0,
        workerThreads,
        onProgress: ({ entries }) => {
          if (entries === 1) {
            const target = path.join(dir, "f0198.txt");
            swapped = rm(target).then(() => symlink(path.join(root, "secret.txt"), target));
          }
        },
      }),
    );
    await swapped;
    expect(isJobStorageError(error, "INVALID_PATH"), String(error)).toBe(true);
    expect((error as { path?: string }).path).toBe("f0198.txt");
    expect(await readdir(outDir)).toEqual([]);
  });

  it("rejects with ENOENT when a large (streamed) file disappears before it is streamed", async () => {
    const root = await zipTempDir();
    const dir = path.join(root, "project");
    await mkdir(dir);
    await writeFile(path.join(dir, "a.txt"), "small\n");
    // Large files are streamed: the file is opened again when yazl reaches it.
    await writeFile(path.join(dir, "b-large.bin"), randomBytes(3 * 1024 * 1024));
    await writeFile(path.join(dir, "c-large.bin"), randomBytes(3 * 1024 * 1024));
    let removed: Promise<void> | undefined;
    const error = await rejection(
      zipDirectory(dir, path.join(root, "project.zip"), {
        onProgress: ({ entries }) => {
          if (entries === 1) removed = rm(path.join(dir, "c-large.bin"));
        },
      }),
    );
    await removed;
    expect((error as NodeJS.ErrnoException).code).toBe("ENOENT");
    expect((await readdir(root)).sort()).toEqual(["project"]);
  });

  it("refuses a name with a backslash (INVALID_PATH) before writing anything", async () => {
    const { dir, outDir } = await manyFiles(3);
    await writeFile(path.join(dir, "a\\b.txt"), "a backslash in a name");
    const error = await rejection(zipDirectory(dir, path.join(outDir, "project.zip")));
    expect(isJobStorageError(error, "INVALID_PATH"), String(error)).toBe(true);
    expect((error as { path?: string }).path).toBe("a\\b.txt");
    expect(await readdir(outDir)).toEqual([]);
  });

  it("rejects with the error thrown by onProgress", async () => {
    const { dir, outDir } = await manyFiles(20);
    const thrown = new Error("progress consumer failed");
    const error = await rejection(
      zipDirectory(dir, path.join(outDir, "project.zip"), {
        onProgress: () => {
          throw thrown;
        },
      }),
    );
    expect(error).toBe(thrown);
    expect(await readdir(outDir)).toEqual([]);
  });
});
