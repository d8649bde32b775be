import { randomBytes } from "node:crypto";
import { readdirSync } from "node:fs";
import { mkdir, readdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { zipDirectory } from "../src/zip/index.js";
import { isZipTempName, zipTempPath, zipTempTarget } from "../src/zip/temp-name.js";
import { zipTempDir } from "./helpers/zip-readers.js";

describe("ZIP temp names", () => {
  it("makes a fresh name beside the output that it recognizes again", () => {
    const first = zipTempPath("/data/jobs/abc.zip");
    const second = zipTempPath("/data/jobs/abc.zip");
    expect(first).not.toBe(second);
    expect(path.dirname(first)).toBe("/data/jobs");
    expect(path.basename(first)).toMatch(/^abc\.zip\.[0-9a-f]{16}\.tmp$/);
    expect(zipTempTarget(path.basename(first))).toBe("abc.zip");
    expect(isZipTempName(path.basename(first))).toBe(true);
    expect(isZipTempName(path.basename(first), "abc.zip")).toBe(true);
    expect(isZipTempName(path.basename(first), "abd.zip")).toBe(false);
  });

  it.each([
    ["abc.zip", "the finished ZIP"],
    ["abc.zip.tmp", "no random part"],
    ["abc.zip.3F9C0A1BE2D47788.tmp", "upper-case hex"],
    ["abc.zip.3f9c0a1be2d4778.tmp", "15 hex digits"],
    ["abc.zip.3f9c0a1be2d477889.tmp", "17 hex digits"],
    ["abc.zip.3f9c0a1be2d47788.tmp.bak", "something after .tmp"],
    [".zip.3f9c0a1be2d47788.tmp", "no name before .zip"],
    ["plan.json.3f9c0a1be2d47788.tmp", "not a ZIP"],
    ["new-3f9c0a1be2d47788.tmp", "another temp file"],
  ])("does not take %s (%s) for a ZIP temp file", (name) => {
    expect(isZipTempName(name)).toBe(false);
  });

  it("is the name zipDirectory writes to while it works", async () => {
    const root = await zipTempDir();
    const dir = path.join(root, "project");
    await mkdir(dir);
    // 2.4 MB that does not deflate: past the 1 MiB an archive may be held in memory, the
    // output is a file on disk well before the last entry.
    for (let index = 0; index < 300; index += 1) await writeFile(path.join(dir, `f${index}.bin`), randomBytes(8 * 1024));
    const during = new Set<string>();
    await zipDirectory(dir, path.join(root, "job.zip"), {
      workerThreads: 0,
      onProgress: () => readdirSync(root).forEach((name) => during.add(name)),
    });
    during.delete("project");
    expect(during.size).toBeGreaterThan(0);
    for (const name of during) expect(isZipTempName(name, "job.zip"), name).toBe(true);
    expect((await readdir(root)).sort()).toEqual(["job.zip", "project"]);
  });
});
