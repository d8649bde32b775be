import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { mkdir, open, writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { zipDirectory } from "../src/zip/index.js";
import type { ZipProgress } from "../src/zip/index.js";
import { fastZipFileSupported } from "../src/zip/fast-zip-file.js";
import { pythonZipReport, readWithYauzl, sevenZipTest, unzipTest, zipInfo, zipTempDir } from "./helpers/zip-readers.js";

const ZIP64_END_OF_CENTRAL_DIRECTORY = Buffer.from([0x50, 0x4b, 0x06, 0x06]);
const ZIP64_LOCATOR = Buffer.from([0x50, 0x4b, 0x06, 0x07]);

async function tail(file: string, bytes: number): Promise<Buffer> {
  const handle = await open(file, "r");
  try {
    const { size } = await handle.stat();
    const buffer = Buffer.alloc(Math.min(bytes, size));
    await handle.read(buffer, 0, buffer.length, size - buffer.length);
    return buffer;
  } finally {
    await handle.close();
  }
}

describe("large archives", () => {
  it("uses the fast path with the installed yazl", async () => {
    // If this fails, yazl's internals changed: archives are still correct, but slower.
    expect(await fastZipFileSupported()).toBe(true);
  });

  it("writes ZIP64 for 70,000 entries, readable by unzip and Python's zipfile", async () => {
    const root = await zipTempDir("ej-zip-", { inMemory: true });
    const dir = path.join(root, "many");
    const names: string[] = [];
    for (let d = 0; d < 70; d += 1) {
      const sub = `d${String(d).padStart(2, "0")}`;
      mkdirSync(path.join(dir, sub), { recursive: true });
      for (let f = 0; f < 1000; f += 1) {
        const name = `${sub}/${String(f).padStart(4, "0")}`;
        writeFileSync(path.join(dir, name), name); // synchronous: much faster for 70,000 tiny files
        names.push(name);
      }
    }
    const zipFile = path.join(root, "many.zip");
    let last: ZipProgress | undefined;

    const result = await zipDirectory(dir, zipFile, { onProgress: (progress) => (last = progress) });

    expect(result.entries).toBe(70_000);
    expect(last).toEqual({ entries: 70_000, totalEntries: 70_000, bytes: 70_000 * 8, totalBytes: 70_000 * 8 });
    const end = await tail(zipFile, 200);
    expect(end.includes(ZIP64_END_OF_CENTRAL_DIRECTORY)).toBe(true);
    expect(end.includes(ZIP64_LOCATOR)).toBe(true);
    expect(execFileSync("unzip", ["-tq", zipFile]).toString()).toContain("No errors detected");
    const report = await pythonZipReport(zipFile);
    expect(report.testzip).toBeNull();
    expect(report.entries).toHaveLength(70_000);
    expect(report.entries.map((entry) => entry.name)).toEqual(names); // already in code-unit order
    expect(report.entries[12_345]).toEqual({ name: names[12_345], method: 0, mode: 0o100644, size: 8 });
  }, 120_000);

  it("streams large files, stored when random and deflated when text, with #! making them executable", async () => {
    const root = await zipTempDir();
    const dir = path.join(root, "big");
    await mkdir(dir);
    const random = randomBytes(3 * 1024 * 1024 + 17);
    const script = Buffer.from("#!/usr/bin/env node\n" + "console.log('a long generated script line');\n".repeat(70_000));
    const photo = Buffer.alloc(2 * 1024 * 1024, 1); // compressible, but a JPEG: stored by type
    await writeFile(path.join(dir, "random.bin"), random);
    await writeFile(path.join(dir, "script.js"), script);
    await writeFile(path.join(dir, "photo.jpg"), photo);
    const zipFile = path.join(root, "big.zip");

    await zipDirectory(dir, zipFile);

    expect(await unzipTest(zipFile)).toContain("No errors detected");
    expect(await sevenZipTest(zipFile)).toContain("Everything is Ok");
    expect((await pythonZipReport(zipFile)).testzip).toBeNull();
    const entries = await readWithYauzl(zipFile);
    expect(entries.map(({ name, method, mode }) => ({ name, method, mode }))).toEqual([
      { name: "photo.jpg", method: 0, mode: 0o100644 },
      { name: "random.bin", method: 0, mode: 0o100644 },
      { name: "script.js", method: 8, mode: 0o100755 },
    ]);
    expect(entries[0]!.data.equals(photo)).toBe(true);
    expect(entries[1]!.data.equals(random)).toBe(true);
    expect(entries[2]!.data.equals(script)).toBe(true);
    expect((await zipInfo(zipFile)).get("script.js")?.permissions).toBe("-rwxr-xr-x");
  });
});
