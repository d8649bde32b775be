import { randomBytes } from "node:crypto";
import type * as fs from "node:fs";
import { mkdir, readFile, readdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it, vi } from "vitest";
import { zipDirectory } from "../src/zip/index.js";
import { zipTempDir } from "./helpers/zip-readers.js";

const LIMIT_BYTES = 256 * 1024;

// A disk that fills up: write streams to `*.tmp` files fail with ENOSPC after LIMIT_BYTES.
vi.mock("node:fs", async (importOriginal) => {
  const actual = await importOriginal<typeof fs>();
  const createWriteStream = ((file: fs.PathLike, options?: Parameters<typeof actual.createWriteStream>[1]) => {
    const stream = actual.createWriteStream(file, options);
    if (!String(file).endsWith(".tmp")) return stream;
    let written = 0;
    const write = stream._write.bind(stream);
    stream._writev = undefined;
    stream._write = (chunk: Buffer, encoding: BufferEncoding, callback: (error?: Error | null) => void) => {
      written += chunk.length;
      if (written > LIMIT_BYTES) {
        callback(Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" }));
        return;
      }
      write(chunk, encoding, callback);
    };
    return stream;
  }) as typeof actual.createWriteStream;
  return { ...actual, default: { ...actual, createWriteStream }, createWriteStream };
});

describe("zipDirectory when the output cannot be written", () => {
  it("rejects with the write error, removes the temporary file and keeps the previous archive", async () => {
    const root = await zipTempDir();
    const dir = path.join(root, "project");
    const outDir = path.join(root, "out");
    await mkdir(dir);
    await mkdir(outDir);
    for (let index = 0; index < 8; index += 1) await writeFile(path.join(dir, `blob${index}.bin`), randomBytes(256 * 1024));
    const zipFile = path.join(outDir, "project.zip");
    await writeFile(zipFile, "the previous archive");

    const error: unknown = await zipDirectory(dir, zipFile).catch((e: unknown) => e);

    expect((error as NodeJS.ErrnoException).code).toBe("ENOSPC");
    expect(await readdir(outDir)).toEqual(["project.zip"]);
    expect(await readFile(zipFile, "utf8")).toBe("the previous archive");
  });
});
