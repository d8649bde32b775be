import { randomBytes } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it, vi } from "vitest";
import { zipDirectory } from "../src/zip/index.js";
import { fastZipFileSupported } from "../src/zip/fast-zip-file.js";
import { pythonZipReport, readWithYauzl, unzipTest, zipTempDir } from "./helpers/zip-readers.js";

// As if a future yazl had changed the internals the fast path relies on.
vi.mock("../src/zip/fast-zip-file.js", async (importOriginal) => ({
  ...(await importOriginal<typeof import("../src/zip/fast-zip-file.js")>()),
  fastZipFileSupported: () => Promise.resolve(false),
}));

describe("without the fast path (plain yazl)", () => {
  it("still writes correct archives with the same entries, modes and compression choices", async () => {
    expect(await fastZipFileSupported()).toBe(false);
    const root = await zipTempDir();
    const dir = path.join(root, "project");
    const files: Record<string, Buffer> = {
      "src/index.ts": Buffer.from("export const x = 1;\n".repeat(300)),
      "data/noise.bin": randomBytes(30_000),
      "logo.png": Buffer.alloc(5000, 3),
      "tool.sh": Buffer.from("#!/bin/sh\n" + "echo tool\n".repeat(50)),
      "large.txt": Buffer.from("a large file\n".repeat(100_000)),
    };
    for (const [name, data] of Object.entries(files)) {
      await mkdir(path.dirname(path.join(dir, name)), { recursive: true });
      await writeFile(path.join(dir, name), data);
    }

    await zipDirectory(dir, path.join(root, "one.zip"), { deterministic: true });
    await zipDirectory(dir, path.join(root, "two.zip"), { deterministic: true });

    expect((await readFile(path.join(root, "one.zip"))).equals(await readFile(path.join(root, "two.zip")))).toBe(true);
    expect(await unzipTest(path.join(root, "one.zip"))).toContain("No errors detected");
    expect((await pythonZipReport(path.join(root, "one.zip"))).testzip).toBeNull();
    const entries = await readWithYauzl(path.join(root, "one.zip"));
    expect(entries.map(({ name, method, mode }) => ({ name, method, mode }))).toEqual([
      { name: "data/noise.bin", method: 0, mode: 0o100644 },
      { name: "large.txt", method: 8, mode: 0o100644 },
      { name: "logo.png", method: 0, mode: 0o100644 },
      { name: "src/index.ts", method: 8, mode: 0o100644 },
      { name: "tool.sh", method: 8, mode: 0o100755 },
    ]);
    for (const entry of entries) expect(entry.data.equals(files[entry.name]!), entry.name).toBe(true);
  });
});
