import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmod, mkdir, readFile, utimes, writeFile } from "node:fs/promises";
import path from "node:path";
import { buffer as readAll } from "node:stream/consumers";
import { fileURLToPath, pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { createZipStream, zipDirectory } from "../src/zip/index.js";
import { pythonZipReport, readWithYauzl, unzipTest, zipTempDir } from "./helpers/zip-readers.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const ZIP_URL = pathToFileURL(path.join(ROOT, "src/zip/index.ts")).href;
const execFileAsync = promisify(execFile);

const RANDOM = randomBytes(40 * 1024);
const LARGE = Buffer.from("a large, compressible, streamed file\n".repeat(40_000)); // ~1.4 MiB

/** The same content each time, with modification times and permission bits that differ per `seed`. */
async function writeTree(dir: string, seed: number): Promise<void> {
  const files: [string, Buffer | string][] = [
    ["src/main.ts", "console.log('hello');\n".repeat(100)],
    ["src/util/strings.ts", "export const upper = (s: string) => s.toUpperCase();\n".repeat(50)],
    [".gitignore", "node_modules\n"],
    ["run.sh", "#!/bin/sh\necho hi\n"],
    ["data.bin", RANDOM],
    ["big.txt", LARGE],
    ["icon.png", Buffer.alloc(2000, 7)],
  ];
  // Write in a different order each time: the archive must not depend on it.
  if (seed % 2 === 1) files.reverse();
  for (const [name, data] of files) {
    await mkdir(path.dirname(path.join(dir, name)), { recursive: true });
    await writeFile(path.join(dir, name), data);
    const when = new Date(Date.UTC(2020 + seed, seed, 1 + seed, seed, seed * 7));
    await utimes(path.join(dir, name), when, when);
  }
  await chmod(path.join(dir, "src/main.ts"), seed % 2 === 1 ? 0o600 : 0o664); // no x bit either way: 0644
  await mkdir(path.join(dir, "empty"));
}

describe("deterministic output", () => {
  it("is byte-identical for identical content with different times, modes and creation order", async () => {
    const root = await zipTempDir();
    const [first, second] = [path.join(root, "one"), path.join(root, "two")];
    await writeTree(first, 1);
    await writeTree(second, 2);

    await zipDirectory(first, path.join(root, "one.zip"), { deterministic: true });
    await zipDirectory(second, path.join(root, "two.zip"), { deterministic: true });
    const [one, two] = [await readFile(path.join(root, "one.zip")), await readFile(path.join(root, "two.zip"))];

    expect(one.equals(two)).toBe(true);
    expect(await unzipTest(path.join(root, "one.zip"))).toContain("No errors detected");
    const report = await pythonZipReport(path.join(root, "one.zip"));
    expect(report.testzip).toBeNull();
    const modes = Object.fromEntries(report.entries.map((entry) => [entry.name, entry.mode]));
    expect(modes).toEqual({
      ".gitignore": 0o100644,
      "big.txt": 0o100644,
      "data.bin": 0o100644,
      "empty/": 0o40755,
      "icon.png": 0o100644,
      "run.sh": 0o100755,
      "src/main.ts": 0o100644,
      "src/util/strings.ts": 0o100644,
    });
    // No extra fields (no "UT" timestamps), and 1980-01-01 00:00 everywhere.
    for (const entry of await readWithYauzl(path.join(root, "one.zip"))) expect(entry.extraFieldLength, entry.name).toBe(0);
    const listing = (await execFileAsync("zipinfo", ["-T", path.join(root, "one.zip")])).stdout;
    const times = listing.split("\n").filter((line) => /^[-d]r/.test(line)).map((line) => line.split(/\s+/)[6]);
    expect(times).toHaveLength(8);
    expect(new Set(times)).toEqual(new Set(["19800101.000000"]));
  });

  it("differs without `deterministic` when only the times differ", async () => {
    const root = await zipTempDir();
    await writeTree(path.join(root, "one"), 2);
    await writeTree(path.join(root, "two"), 4);
    await zipDirectory(path.join(root, "one"), path.join(root, "one.zip"));
    await zipDirectory(path.join(root, "two"), path.join(root, "two.zip"));
    const [one, two] = [await readFile(path.join(root, "one.zip")), await readFile(path.join(root, "two.zip"))];
    expect(one.equals(two)).toBe(false);
  });

  it("streams the same bytes as zipDirectory writes", async () => {
    const root = await zipTempDir();
    const dir = path.join(root, "tree");
    await writeTree(dir, 3);
    await zipDirectory(dir, path.join(root, "file.zip"), { deterministic: true });
    const streamed = await readAll(createZipStream(dir, { deterministic: true }));
    expect(streamed.equals(await readFile(path.join(root, "file.zip")))).toBe(true);
  });

  it("does not depend on the time zone of the process", async () => {
    const root = await zipTempDir();
    const dir = path.join(root, "tree");
    await writeTree(dir, 1);
    const script = `const { zipDirectory } = await import(${JSON.stringify(ZIP_URL)}); await zipDirectory(process.argv[1], process.argv[2], { deterministic: true });`;
    const zones = ["Pacific/Kiritimati", "America/Los_Angeles", "UTC"];
    const archives: Buffer[] = [];
    for (const zone of zones) {
      const out = path.join(root, `${zone.replaceAll("/", "-")}.zip`);
      await execFileAsync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script, dir, out], {
        cwd: ROOT,
        env: { ...process.env, TZ: zone },
      });
      archives.push(await readFile(out));
    }
    expect(archives[0]!.equals(archives[1]!)).toBe(true);
    expect(archives[0]!.equals(archives[2]!)).toBe(true);
    expect(await unzipTest(path.join(root, "UTC.zip"))).toContain("No errors detected");
  });
});
