import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmod, mkdir, readFile, readdir, symlink, utimes, writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { isJobStorageError } from "../src/errors.js";
import { zipDirectory } from "../src/zip/index.js";
import type { ZipProgress } from "../src/zip/index.js";
import { pythonZipReport, readWithYauzl, sevenZipTest, unzipTest, zipInfo, zipTempDir } from "./helpers/zip-readers.js";

const TEXT = "export const answer = 42; // a line of compressible source text\n".repeat(200);

/**
 * Writes a small project: dotfiles, nested directories, an empty file and
 * directory, a PNG, random bytes, an executable by mode and one by `#!`,
 * and (outside the project) the targets of two symbolic links inside it.
 */
async function writeProject(root: string, outside: string): Promise<{ dir: string; contents: Map<string, Buffer> }> {
  const dir = path.join(root, "project");
  const contents = new Map<string, Buffer>([
    [".env.example", Buffer.from("API_KEY=\n")],
    [".github/workflows/ci.yml", Buffer.from("on: push\njobs: {}\n".repeat(20))],
    [".gitignore", Buffer.from("node_modules\ndist\n")],
    ["B.txt", Buffer.from("upper case sorts before lower case\n")],
    ["README.md", Buffer.from("# Project\n\n" + "Some words about the project. ".repeat(50))],
    ["a.txt", Buffer.from("a\n")],
    ["assets/logo.png", Buffer.alloc(4096, 0x41)], // compressible bytes, but a PNG: stored by type
    ["bin/run", Buffer.from("echo run\n".repeat(20))],
    ["data/random.bin", randomBytes(48 * 1024)],
    // High byte entropy, yet it repeats: the probe must let it be deflated.
    ["data/repeated.bin", Buffer.concat(new Array(20).fill(randomBytes(1024)) as Buffer[])],
    ["empty.txt", Buffer.alloc(0)],
    ["scripts/deploy.sh", Buffer.from("#!/bin/sh\n" + "echo deploy\n".repeat(20))],
    ["src/index.ts", Buffer.from(TEXT)],
    ["src/lib-extra.ts", Buffer.from(TEXT.toUpperCase())],
    ["src/lib/util.ts", Buffer.from(TEXT.replaceAll("42", "43"))],
  ]);
  for (const [name, data] of contents) {
    await mkdir(path.dirname(path.join(dir, name)), { recursive: true });
    await writeFile(path.join(dir, name), data);
  }
  await chmod(path.join(dir, "bin/run"), 0o755);
  await chmod(path.join(dir, "scripts/deploy.sh"), 0o644);
  await mkdir(path.join(dir, "empty-dir"));

  await mkdir(path.join(outside, "secret-dir"), { recursive: true });
  await writeFile(path.join(outside, "secret.txt"), "top secret");
  await writeFile(path.join(outside, "secret-dir", "inner.txt"), "also secret");
  await symlink(path.join(outside, "secret.txt"), path.join(dir, "link-to-file"));
  await symlink(path.join(outside, "secret-dir"), path.join(dir, "link-to-dir"));
  await symlink(path.join(outside, "secret.txt"), path.join(dir, "src", "nested-link.ts"));
  execFileSync("mkfifo", [path.join(dir, "a-fifo")]);
  return { dir, contents };
}

/** The entry names expected for {@link writeProject}, in code-unit order, written out by hand. */
const EXPECTED_NAMES = [
  ".env.example",
  ".github/workflows/ci.yml",
  ".gitignore",
  "B.txt",
  "README.md",
  "a.txt",
  "assets/logo.png",
  "bin/run",
  "data/random.bin",
  "data/repeated.bin",
  "empty-dir/",
  "empty.txt",
  "scripts/deploy.sh",
  "src/index.ts",
  "src/lib-extra.ts", // "-" (0x2d) sorts before "/" (0x2f): the full path is compared
  "src/lib/util.ts",
];

async function setup(): Promise<{ dir: string; outDir: string; contents: Map<string, Buffer> }> {
  const root = await zipTempDir();
  const outside = path.join(root, "outside");
  const outDir = path.join(root, "out");
  await mkdir(outDir);
  const { dir, contents } = await writeProject(root, outside);
  return { dir, outDir, contents };
}

// Small files are read and deflated by worker threads, or on the main thread with 0.
describe.each([
  { label: "main thread", threads: { workerThreads: 0 } },
  { label: "2 worker threads", threads: { workerThreads: 2 } },
])("zipDirectory ($label)", ({ threads }) => {
  it("archives every regular file, dotfiles and empty ones included, sorted, and nothing else", async () => {
    const { dir, outDir, contents } = await setup();
    const zipFile = path.join(outDir, "project.zip");

    const result = await zipDirectory(dir, zipFile, threads);

    expect(result.entries).toBe(contents.size);
    expect(result.sizeBytes).toBe((await readFile(zipFile)).length);
    const entries = await readWithYauzl(zipFile);
    expect(entries.map((entry) => entry.name)).toEqual(EXPECTED_NAMES);
    for (const entry of entries) {
      if (entry.name.endsWith("/")) continue;
      expect(entry.data.equals(contents.get(entry.name)!), entry.name).toBe(true);
    }
    // The symbolic links were neither archived nor followed; the FIFO was skipped.
    const names = entries.map((entry) => entry.name).join("\n");
    expect(names).not.toMatch(/link|secret|inner|fifo/);
    for (const entry of entries) expect(entry.data.toString()).not.toContain("secret");
    // Nothing but the ZIP was written.
    expect(await readdir(outDir)).toEqual(["project.zip"]);
  });

  it("writes an archive that unzip, 7-Zip and Python's zipfile accept", async () => {
    const { dir, outDir } = await setup();
    const zipFile = path.join(outDir, "project.zip");
    await zipDirectory(dir, zipFile, threads);

    expect(await unzipTest(zipFile)).toContain("No errors detected");
    expect(await sevenZipTest(zipFile)).toContain("Everything is Ok");
    const report = await pythonZipReport(zipFile);
    expect(report.testzip).toBeNull();
    expect(report.entries.map((entry) => entry.name)).toEqual(EXPECTED_NAMES);
    expect(report.entries.find((entry) => entry.name === "empty.txt")?.size).toBe(0);
    expect(report.entries.find((entry) => entry.name === "empty-dir/")?.mode).toBe(0o40755);
  });

  it("stores already-compressed types and incompressible data, deflates text", async () => {
    const { dir, outDir } = await setup();
    const zipFile = path.join(outDir, "project.zip");
    await zipDirectory(dir, zipFile, threads);

    const methods = new Map((await readWithYauzl(zipFile)).map((entry) => [entry.name, entry.method]));
    expect(methods.get("assets/logo.png")).toBe(0);
    expect(methods.get("data/random.bin")).toBe(0);
    expect(methods.get("data/repeated.bin")).toBe(8);
    expect(methods.get("empty.txt")).toBe(0);
    expect(methods.get("src/index.ts")).toBe(8);
    expect(methods.get("README.md")).toBe(8);
    expect(methods.get(".github/workflows/ci.yml")).toBe(8);
    const info = await zipInfo(zipFile);
    expect(info.get("assets/logo.png")?.method).toBe("stor");
    expect(info.get("src/lib/util.ts")?.method).toBe("defN");
  });

  it("stores everything with compressionLevel 0", async () => {
    const { dir, outDir, contents } = await setup();
    const zipFile = path.join(outDir, "stored.zip");
    await zipDirectory(dir, zipFile, { ...threads, compressionLevel: 0 });

    const entries = await readWithYauzl(zipFile);
    expect(entries.filter((entry) => !entry.name.endsWith("/")).map((entry) => entry.method)).toEqual(new Array(contents.size).fill(0));
    expect(entries.find((entry) => entry.name === "src/index.ts")?.data.toString()).toBe(TEXT);
    expect(await unzipTest(zipFile)).toContain("No errors detected");
  });

  it("gives mode 0755 to files with an execute bit or a #! line, 0644 to the others", async () => {
    const { dir, outDir } = await setup();
    const zipFile = path.join(outDir, "project.zip");
    await zipDirectory(dir, zipFile, threads);

    const info = await zipInfo(zipFile);
    expect(info.get("bin/run")?.permissions).toBe("-rwxr-xr-x");
    expect(info.get("scripts/deploy.sh")?.permissions).toBe("-rwxr-xr-x");
    expect(info.get("README.md")?.permissions).toBe("-rw-r--r--");
    expect(info.get(".gitignore")?.permissions).toBe("-rw-r--r--");
    const modes = new Map((await pythonZipReport(zipFile)).entries.map((entry) => [entry.name, entry.mode]));
    expect(modes.get("bin/run")).toBe(0o100755);
    expect(modes.get("scripts/deploy.sh")).toBe(0o100755);
    expect(modes.get("src/index.ts")).toBe(0o100644);
  });

  it("reports progress after each file, reaching the totals", async () => {
    const { dir, outDir, contents } = await setup();
    const progress: ZipProgress[] = [];
    await zipDirectory(dir, path.join(outDir, "project.zip"), { ...threads, onProgress: (p) => progress.push({ ...p }) });

    const totalBytes = [...contents.values()].reduce((sum, data) => sum + data.length, 0);
    expect(progress).toHaveLength(contents.size);
    expect(progress.map((p) => p.entries)).toEqual(Array.from({ length: contents.size }, (_, index) => index + 1));
    for (const p of progress) expect(p).toMatchObject({ totalEntries: contents.size, totalBytes });
    expect(progress.at(-1)).toEqual({ entries: contents.size, totalEntries: contents.size, bytes: totalBytes, totalBytes });
    const bytes = progress.map((p) => p.bytes);
    expect(bytes).toEqual([...bytes].sort((a, b) => a - b));
  });

  it("replaces an existing output file", async () => {
    const { dir, outDir } = await setup();
    const zipFile = path.join(outDir, "project.zip");
    await writeFile(zipFile, "an older archive");
    await zipDirectory(dir, zipFile, threads);

    expect((await readWithYauzl(zipFile)).map((entry) => entry.name)).toEqual(EXPECTED_NAMES);
    expect(await readdir(outDir)).toEqual(["project.zip"]);
  });

  it("keeps real modification times unless deterministic", async () => {
    const { dir, outDir } = await setup();
    const when = new Date("2024-06-01T12:00:00Z");
    await utimes(path.join(dir, "README.md"), when, when);
    const zipFile = path.join(outDir, "project.zip");
    await zipDirectory(dir, zipFile, threads);

    const entry = (await readWithYauzl(zipFile)).find((e) => e.name === "README.md")!;
    // The Info-ZIP "UT" extra field (9 bytes) carries the UTC time.
    expect(entry.extraFieldLength).toBe(9);
    const out = execFileSync("unzip", ["-Z", "-T", zipFile, "README.md"], { env: { ...process.env, TZ: "UTC" } }).toString();
    expect(out).toContain("20240601.120000");
  });

  it("rejects invalid options with INVALID_INPUT, naming the option", async () => {
    const { dir, outDir } = await setup();
    const attempts = [
      { compressionLevel: 10 },
      { compressionLevel: 1.5 },
      { deterministic: "yes" as unknown as boolean },
      { onProgress: 42 as unknown as () => void },
      { signal: {} as AbortSignal },
      { workerThreads: 17 },
      { workerThreads: -1 },
    ];
    for (const options of attempts) {
      const error: unknown = await zipDirectory(dir, path.join(outDir, "x.zip"), options).catch((e: unknown) => e);
      expect(isJobStorageError(error, "INVALID_INPUT"), String(error)).toBe(true);
      expect((error as Error).message).toContain(Object.keys(options)[0]);
    }
    expect(await readdir(outDir)).toEqual([]);
  });
});
