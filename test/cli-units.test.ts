/**
 * The command line's building blocks, in process: formatting, the demo's ZIP
 * reader, and the progress bar on a (fake) terminal.
 */
import { execFile } from "node:child_process";
import fs from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { zipDirectory } from "../src/index.js";
import { formatBytes, formatDuration, formatTable, oneLine } from "../src/cli/format.js";
import type { CliIo, CliOutput } from "../src/cli/io.js";
import { run } from "../src/cli/run.js";
import { extractZipEntry, readZipEntries } from "../src/cli/zip-reader.js";
import { openStorage, tempDir } from "./helpers/temp.js";

const execFileAsync = promisify(execFile);

function memoryOutput(isTTY: boolean): CliOutput & { text: string } {
  const out = {
    text: "",
    isTTY,
    columns: 100,
    write(chunk: string) {
      out.text += chunk;
      return true;
    },
  };
  return out;
}

function memoryIo(options: { tty: boolean; cwd: string }): CliIo & { stdout: { text: string }; stderr: { text: string } } {
  return { stdout: memoryOutput(false), stderr: memoryOutput(options.tty), env: {}, cwd: options.cwd };
}

describe("formatting", () => {
  it.each([
    [0, "0 B"],
    [1023, "1023 B"],
    [1024, "1.0 KiB"],
    [1536, "1.5 KiB"],
    [1024 * 1024 - 1, "1.0 MiB"],
    [12.34 * 1024 * 1024, "12.3 MiB"],
    [5 * 1024 ** 3, "5.0 GiB"],
  ])("formatBytes(%d) = %s", (bytes, text) => {
    expect(formatBytes(bytes)).toBe(text);
  });

  it.each([
    [0, "0s"],
    [59_999, "59s"],
    [60_000, "1m 00s"],
    [3_600_000 + 5 * 60_000, "1h 05m"],
    [47 * 3_600_000 + 59 * 60_000, "1d 23h"],
    [-5_000, "0s"],
  ])("formatDuration(%d) = %s", (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });

  it("aligns table columns, right-aligning where asked", () => {
    const table = formatTable(
      ["ID", "FILES", "NAME"],
      [
        ["a", "1", "x"],
        ["bbbb", "100", "yy"],
      ],
      ["left", "right", "left"],
    );
    expect(table.split("\n")).toEqual(["ID    FILES  NAME", "a         1  x", "bbbb    100  yy"]);
  });

  it("keeps an error on one line", () => {
    expect(oneLine("first\n  second\r\nthird")).toBe("first second third");
  });
});

describe("the demo's ZIP reader", () => {
  it("reads back what zipDirectory wrote, and what Info-ZIP wrote", async () => {
    const dir = await tempDir();
    const files: Record<string, Buffer> = {
      "a.txt": Buffer.from("hello ".repeat(1000)),
      "bin/run.sh": Buffer.from("#!/bin/sh\necho hi\n"),
      "empty.txt": Buffer.alloc(0),
      "ünï/cödé.ts": Buffer.from("export {};\n"),
    };
    for (const [name, content] of Object.entries(files)) {
      await fs.mkdir(path.dirname(path.join(dir, "src", name)), { recursive: true });
      await fs.writeFile(path.join(dir, "src", name), content);
    }
    await fs.chmod(path.join(dir, "src/bin/run.sh"), 0o755);
    const ours = path.join(dir, "ours.zip");
    await zipDirectory(path.join(dir, "src"), ours);
    const infoZip = path.join(dir, "info.zip");
    await execFileAsync("zip", ["-qr", "-X", infoZip, "."], { cwd: path.join(dir, "src") });

    for (const file of [ours, infoZip]) {
      const zip = await fs.readFile(file);
      const entries = readZipEntries(zip).filter((entry) => !entry.name.endsWith("/"));
      expect(entries.map((entry) => entry.name).sort()).toEqual(Object.keys(files).sort());
      for (const entry of entries) expect(extractZipEntry(zip, entry).equals(files[entry.name]!)).toBe(true);
      const script = entries.find((entry) => entry.name === "bin/run.sh")!;
      expect(script.unixMode! & 0o777).toBe(0o755);
    }
  });

  it("rejects a corrupt archive", async () => {
    const dir = await tempDir();
    await fs.mkdir(path.join(dir, "src"));
    await fs.writeFile(path.join(dir, "src/a.txt"), "content ".repeat(100));
    const file = path.join(dir, "a.zip");
    await zipDirectory(path.join(dir, "src"), file);
    const zip = await fs.readFile(file);
    expect(() => readZipEntries(zip.subarray(0, zip.length - 10))).toThrow(/Invalid ZIP/);
    const entry = readZipEntries(zip)[0]!;
    const flipped = Buffer.from(zip);
    flipped[entry.localHeaderOffset + 30 + "a.txt".length + 5]! ^= 0xff;
    expect(() => extractZipEntry(flipped, entry)).toThrow(/Invalid ZIP|invalid/i);
  });
});

describe("zip progress", () => {
  async function generatingJob(): Promise<{ basePath: string; jobId: string }> {
    const { storage, basePath } = await openStorage();
    const job = await storage.createJob({ projectName: "tty" });
    await storage.writeFiles(
      job.jobId,
      Array.from({ length: 20 }, (_, i) => ({ path: `f${i}.txt`, content: `file ${i}\n`.repeat(500) })),
    );
    return { basePath, jobId: job.jobId };
  }

  it("draws a bar on a terminal", async () => {
    const { basePath, jobId } = await generatingJob();
    const cwd = await tempDir();
    const io = memoryIo({ tty: true, cwd });
    expect(await run(["zip", jobId, "--base-path", basePath], io)).toBe(0);
    expect(io.stderr.text).toMatch(/^\rbuilding \[[#-]+\]/);
    expect(io.stderr.text).toMatch(/building \[#+\] 100%.*\n/);
    expect(io.stderr.text).toMatch(/copying \[#+\] 100%.*\n$/);
    expect(io.stdout.text).toMatch(/^Completed job .* and built its ZIP; wrote .*tty\.zip/);
  });

  it("writes nothing to stderr off a terminal", async () => {
    const { basePath, jobId } = await generatingJob();
    const io = memoryIo({ tty: false, cwd: await tempDir() });
    expect(await run(["zip", jobId, "--base-path", basePath], io)).toBe(0);
    expect(io.stderr.text).toBe("");
  });

  it("run() never throws: errors become one line and an exit code", async () => {
    const io = memoryIo({ tty: false, cwd: await tempDir() });
    expect(await run(["zip", "missing", "--base-path", path.join(io.cwd, "none")], io)).toBe(1);
    expect(io.stderr.text).toMatch(/^ephemeral-jobs: No job storage at .*\n$/);
    const usage = memoryIo({ tty: false, cwd: io.cwd });
    expect(await run(["nope"], usage)).toBe(2);
    expect(usage.stderr.text).toMatch(/^ephemeral-jobs: unknown command "nope"\n\nUsage: ephemeral-jobs <command> \[options\]\n/);
    const flags = memoryIo({ tty: false, cwd: io.cwd });
    expect(await run(["ls", "--bogus"], flags)).toBe(2);
    expect(flags.stderr.text).toBe("ephemeral-jobs: unknown option --bogus (see ephemeral-jobs --help)\n");
  });
});
