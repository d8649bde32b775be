/**
 * The `ephemeral-jobs` bin, run as a child process on a base path populated
 * through the manager.
 */
import { execFile } from "node:child_process";
import fs from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import { beforeEach, describe, expect, it } from "vitest";
import type { CleanupResult, JobMetadata, JobStorageManager, StorageStats } from "../src/index.js";
import type { ZipCommandResult } from "../src/cli/commands.js";
import type { DemoResult } from "../src/cli/demo.js";
import { COMMANDS } from "../src/cli/usage.js";
import { ROOT, cli, expectOneLineError } from "./helpers/cli.js";
import { openStorage, tempDir } from "./helpers/temp.js";

const execFileAsync = promisify(execFile);
const VERSION = (JSON.parse(await fs.readFile(path.join(ROOT, "package.json"), "utf8")) as { version: string }).version;

async function unzip(args: string[]): Promise<string> {
  const { stdout } = await execFileAsync("unzip", args);
  return stdout;
}

interface Fixture {
  basePath: string;
  storage: JobStorageManager;
  generating: JobMetadata;
  complete: JobMetadata;
  failed: JobMetadata;
  expired: JobMetadata;
}

const HOUR_MS = 3_600_000;

/**
 * Four jobs: alice's generating (2 files), bob's complete (3 files), alice's
 * failed (1 file), and carol's, created three days ago with a one-hour TTL.
 */
async function populate(): Promise<Fixture> {
  const { storage, basePath } = await openStorage();
  const generating = await storage.createJob({ projectName: "alice-app", userId: "alice" });
  await storage.writeFiles(generating.jobId, [
    { path: "src/index.ts", content: "export const a = 1;\n" },
    { path: "scripts/run.sh", content: "#!/bin/sh\necho hi\n", executable: true },
  ]);
  const complete = await storage.createJob({ projectName: "bob app", userId: "bob" });
  await storage.writeFiles(complete.jobId, [
    { path: "package.json", content: '{ "name": "bob" }\n' },
    { path: "src/app/[id]/page.tsx", content: "export default function Page() { return null; }\n" },
    { path: ".gitignore", content: "node_modules/\n" },
  ]);
  await storage.completeJob(complete.jobId);
  const failed = await storage.createJob({ projectName: "broken", userId: "alice" });
  await storage.writeFile(failed.jobId, "a.txt", "a");
  await storage.failJob(failed.jobId, "the model gave up");
  // A second manager whose clock is three days behind creates a job that is long expired now.
  const { storage: past } = await openStorage({ basePath, now: () => new Date(Date.now() - 72 * HOUR_MS) });
  const expired = await past.createJob({ projectName: "old", userId: "carol", ttlHours: 1 });
  await past.writeFile(expired.jobId, "old.txt", "old content\n");
  return {
    basePath,
    storage,
    generating: (await storage.getJob(generating.jobId))!,
    complete: (await storage.getJob(complete.jobId))!,
    failed: (await storage.getJob(failed.jobId))!,
    expired: (await storage.getJob(expired.jobId))!,
  };
}

let fx: Fixture;
beforeEach(async () => {
  fx = await populate();
});

describe("ephemeral-jobs bin", () => {
  it("prints help and version", async () => {
    const [help, version] = await Promise.all([cli(["--help"]), cli(["--version"])]);
    expect(help.code).toBe(0);
    for (const command of ["stats", "ls", "cleanup", "zip", "demo", "--base-path", "--json"]) expect(help.stdout).toContain(command);
    expect(version).toEqual({ code: 0, stdout: `${VERSION}\n`, stderr: "" });
  });

  it("stats: the getStats() figures", async () => {
    const [json, human] = await Promise.all([
      cli(["stats", "--json", "--base-path", fx.basePath]),
      cli(["stats", "--base-path", fx.basePath]),
    ]);
    expect(json.code).toBe(0);
    const stats = JSON.parse(json.stdout) as StorageStats;
    const expected = await fx.storage.getStats();
    expect(stats).toMatchObject({
      basePath: fx.basePath,
      jobCount: 4,
      fileCount: 7,
      totalSizeBytes: expected.totalSizeBytes,
      expiryHours: 48,
      jobsByStatus: { generating: 1, complete: 1, failed: 1, expired: 1 },
    });
    expect(stats.diskFreeBytes).toBeGreaterThan(0);

    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/^jobs\s+4 \(generating 1, complete 1, failed 1, expired 1\)$/m);
    expect(human.stdout).toMatch(/^files\s+7$/m);
    expect(human.stdout).toContain(`${expected.totalSizeBytes} bytes`);
  });

  it("takes the base path from JOBS_BASE_PATH, and --base-path over it", async () => {
    const other = await tempDir();
    const [fromEnv, overridden, relative] = await Promise.all([
      cli(["stats", "--json"], { env: { JOBS_BASE_PATH: fx.basePath } }),
      cli(["stats", "--json", "--base-path", fx.basePath], { env: { JOBS_BASE_PATH: other } }),
      // A relative --base-path is relative to the working directory.
      cli(["stats", "--json", "--base-path", path.basename(fx.basePath)], { cwd: path.dirname(fx.basePath) }),
    ]);
    expect((JSON.parse(fromEnv.stdout) as StorageStats).jobCount).toBe(4);
    expect((JSON.parse(overridden.stdout) as StorageStats).basePath).toBe(fx.basePath);
    expect((JSON.parse(relative.stdout) as StorageStats).jobCount).toBe(4);
  });

  it("ls: every job newest first, filtered by status and user", async () => {
    const ls = async (...args: string[]): Promise<JobMetadata[]> => {
      const result = await cli(["ls", ...args, "--json", "--base-path", fx.basePath]);
      expect(result.code).toBe(0);
      return JSON.parse(result.stdout) as JobMetadata[];
    };
    const ids = (jobs: JobMetadata[]): string[] => jobs.map((job) => job.jobId);
    const [all, complete, alice, both, expired, nobody] = await Promise.all([
      ls(),
      ls("--status", "complete"),
      ls("--user", "alice"),
      ls("--user", "alice", "--status", "failed"),
      ls("--status", "expired"),
      cli(["ls", "--user", "nobody", "--base-path", fx.basePath]),
    ]);
    expect(all).toHaveLength(4);
    expect(ids(all)).toEqual(ids(await fx.storage.listJobs()));
    expect(ids(complete)).toEqual([fx.complete.jobId]);
    expect(ids(alice).sort()).toEqual([fx.generating.jobId, fx.failed.jobId].sort());
    expect(ids(both)).toEqual([fx.failed.jobId]);
    expect(ids(expired)).toEqual([fx.expired.jobId]);
    expect(nobody.stdout).toBe("no jobs\n");
  });

  it("ls: aligned columns id, status, files, size, age, expires in", async () => {
    const { code, stdout } = await cli(["ls", "--base-path", fx.basePath]);
    expect(code).toBe(0);
    const lines = stdout.trimEnd().split("\n");
    expect(lines).toHaveLength(5);
    expect(lines[0]).toMatch(/^ID\s+STATUS\s+FILES\s+SIZE\s+AGE\s+EXPIRES IN\s+USER\s+PROJECT$/);
    const statusColumn = lines[0]!.indexOf("STATUS");
    const filesEnd = lines[0]!.indexOf("FILES") + "FILES".length;
    for (const line of lines.slice(1)) {
      expect(line.slice(statusColumn)).toMatch(/^(generating|complete|failed|expired) /);
      expect(line[filesEnd - 1]).toMatch(/\d/); // right-aligned counts end under the header's end
    }
    const row = (jobId: string): string => lines.find((line) => line.startsWith(jobId))!;
    // Made in beforeEach: under an hour old (seconds, or minutes on a loaded machine), so 47 h left.
    expect(row(fx.complete.jobId)).toMatch(/ complete +3 +\d+ B +(\d+s|\d+m \d{2}s) +1d 23h +bob +bob app$/);
    expect(row(fx.expired.jobId)).toMatch(/ expired +1 +12 B +3d 00h +expired +carol +old$/);
  });

  it("cleanup --dry-run reports, cleanup removes the expired job", async () => {
    const preview = await cli(["cleanup", "--dry-run", "--json", "--base-path", fx.basePath]);
    expect(preview.code).toBe(0);
    const previewed = JSON.parse(preview.stdout) as CleanupResult;
    expect(previewed.cleanedJobs).toEqual([fx.expired.jobId]);
    expect(previewed.freedBytes).toBeGreaterThan(0);
    expect(await fx.storage.getJob(fx.expired.jobId)).toBeDefined();

    const human = await cli(["cleanup", "--dry-run", "--base-path", fx.basePath]);
    expect(human.stdout).toMatch(/^Would remove 1 expired job and free .+ \(dry run: nothing was removed\)\n {2}\S+\n$/);
    expect(human.stdout).toContain(fx.expired.jobId);

    const run = await cli(["cleanup", "--json", "--base-path", fx.basePath]);
    const cleaned = JSON.parse(run.stdout) as CleanupResult;
    expect(cleaned).toEqual(previewed);
    expect(await fx.storage.getJob(fx.expired.jobId)).toBeUndefined();
    expect(await fx.storage.getJob(fx.complete.jobId)).toBeDefined();
    await expect(fs.stat(path.join(fx.basePath, fx.expired.jobId))).rejects.toMatchObject({ code: "ENOENT" });

    const again = await cli(["cleanup", "--base-path", fx.basePath]);
    expect(again.stdout).toBe("Removed 0 expired jobs, freed 0 B\n");
  });

  it("zip builds a generating job's ZIP (completing it) and copies it to --out", async () => {
    const outDir = await tempDir();
    const out = path.join(outDir, "alice.zip");
    const result = await cli(["zip", fx.generating.jobId, "--out", out, "--json", "--base-path", fx.basePath]);
    expect(result.code).toBe(0);
    expect(result.stderr).toBe(""); // no progress bar off a terminal
    const parsed = JSON.parse(result.stdout) as ZipCommandResult;
    expect(parsed).toMatchObject({ jobId: fx.generating.jobId, out, built: true, job: { status: "complete", zipReady: true } });
    expect((await fx.storage.getJob(fx.generating.jobId))?.status).toBe("complete");

    expect(await unzip(["-t", out])).toMatch(/No errors detected/);
    const entries = (await unzip(["-Z1", out])).trim().split("\n").sort();
    expect(entries).toEqual((await fx.storage.listFiles(fx.generating.jobId)).map((file) => file.path).sort());
    expect(parsed.sizeBytes).toBe((await fs.stat(out)).size);
    expect(await fs.readdir(outDir)).toEqual(["alice.zip"]); // no partial file left behind
  });

  it("verify: OK and exit 0 while the files match the index; FAULT, the paths and exit 1 once they do not", async () => {
    const ok = await cli(["verify", fx.complete.jobId, "--base-path", fx.basePath]);
    expect(ok).toMatchObject({ code: 0, stderr: "" });
    expect(ok.stdout).toBe(`OK: 3 files of ${fx.complete.jobId} match the index\n`);

    const files = path.join(fx.basePath, fx.generating.jobId, "files");
    await fs.writeFile(path.join(files, "src", "index.ts"), "export const a = 2;\n");
    await fs.rm(path.join(files, "scripts", "run.sh"));
    await fs.writeFile(path.join(files, "stray.txt"), "not written through the library");
    const human = await cli(["verify", fx.generating.jobId, "--base-path", fx.basePath]);
    expect(human.code).toBe(1);
    expect(human.stdout.split("\n")).toEqual([
      `FAULT: ${fx.generating.jobId}: 1 changed, 1 missing, 1 unknown to the index (2 checked)`,
      "  changed     src/index.ts",
      "  missing     scripts/run.sh",
      "  unexpected  stray.txt",
      "",
    ]);
    const json = await cli(["verify", fx.generating.jobId, "--json", "--base-path", fx.basePath]);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toEqual({
      jobId: fx.generating.jobId,
      ok: false,
      checked: 2,
      mismatched: ["src/index.ts"],
      missing: ["scripts/run.sh"],
      unexpected: ["stray.txt"],
    });
    expectOneLineError(await cli(["verify", "no-such-job", "--base-path", fx.basePath]), 1, /JOB_NOT_FOUND/);
  });

  it("zip copies a complete job's ZIP to ./<project>.zip by default", async () => {
    const cwd = await tempDir();
    const result = await cli(["zip", fx.complete.jobId, "--base-path", fx.basePath], { cwd });
    expect(result.code).toBe(0);
    const out = path.join(cwd, "bob app.zip");
    expect(result.stdout).toBe(`Wrote ${out} (${(await fs.stat(out)).size} B, 3 files)\n`);
    const original = await fs.readFile(path.join(fx.basePath, `${fx.complete.jobId}.zip`));
    expect((await fs.readFile(out)).equals(original)).toBe(true);
    expect(await unzip(["-t", out])).toMatch(/No errors detected/);
    // An existing directory as --out receives <project>.zip.
    const dir = await tempDir();
    const intoDir = await cli(["zip", fx.complete.jobId, "--out", dir, "--json", "--base-path", fx.basePath]);
    expect((JSON.parse(intoDir.stdout) as ZipCommandResult).out).toBe(path.join(dir, "bob app.zip"));
  });

  it("demo runs end to end and leaves a checked ZIP", async () => {
    const result = await cli(["demo"]);
    expect(result.code).toBe(0);
    const zipPath = /^ZIP: (.+)$/m.exec(result.stdout)?.[1];
    expect(zipPath).toBeDefined();
    const demoBase = path.dirname(zipPath!);
    try {
      expect(path.basename(demoBase)).toMatch(/^ephemeral-jobs-demo-/);
      expect(result.stdout).toMatch(/planner wrote a plan/);
      expect(result.stdout).toMatch(/writer wrote 11 of 11 files in one batch/);
      expect(result.stdout).toMatch(/fixer overwrote src\/lib\/format\.ts/);
      expect(result.stdout).toMatch(/checked the ZIP/);
      expect(result.stdout).toMatch(/progress: 11 of 11 planned files \(100%\)/);
      // 1 status + 1 plan + 11 writes + 1 fix + 1 complete
      expect(result.stdout).toMatch(/verified: 11 files re-hashed, all match the index; the change feed reported 15 changes, from "generating" to "complete"/);
      expect(await unzip(["-t", zipPath!])).toMatch(/No errors detected/);
    } finally {
      await fs.rm(demoBase, { recursive: true, force: true });
    }
  });

  it("demo --json on --base-path", async () => {
    const base = await tempDir();
    const result = await cli(["demo", "--json", "--base-path", base]);
    expect(result.code).toBe(0);
    const demo = JSON.parse(result.stdout) as DemoResult;
    expect(demo.basePath).toBe(base);
    expect(demo.job).toMatchObject({ status: "complete", zipReady: true, filesCount: 11 });
    expect(demo.batch).toMatchObject({ total: 11, success: 11, failed: 0 });
    expect(demo.zip.path).toBe(path.join(base, `${demo.jobId}.zip`));
    expect((await fs.stat(demo.zip.path)).size).toBe(demo.zip.sizeBytes);
    expect(demo.zip.checked).toHaveLength(4);
  });

  // Without a command to point at, the usage names every command (as git and npm do).
  const noCommand: [string, string[], string][] = [
    ["an unknown command", ["frobnicate"], 'ephemeral-jobs: unknown command "frobnicate"'],
    ["a command in the wrong case", ["LS"], 'ephemeral-jobs: unknown command "LS"'],
    ["an inherited property name", ["toString"], 'ephemeral-jobs: unknown command "toString"'],
    ["no command", [], "ephemeral-jobs: missing command"],
  ];
  it.each(noCommand)("exits 2 and prints the usage with every command on stderr for %s", async (_name, args, first) => {
    const result = await cli(["--base-path", fx.basePath, ...args]);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe("");
    const lines = result.stderr.split("\n");
    expect(lines[0]).toBe(first);
    expect(lines).toContain("Usage: ephemeral-jobs <command> [options]");
    const commandLines = lines.filter((line) => /^ {2}\S/.test(line)).map((line) => line.trim().split(/\s+/)[0]);
    expect(commandLines).toEqual(Object.keys(COMMANDS));
    expect(commandLines).toEqual(expect.arrayContaining(["stats", "ls", "cleanup", "zip", "demo"]));
    // The table the usage comes from: a command added there shows up here.
    for (const spec of Object.values(COMMANDS)) expect(result.stderr).toContain(spec.synopsis);
    expect(lines.at(-2)).toBe("See ephemeral-jobs --help for the options.");
    expect(result.stderr).not.toMatch(/^\s+at /m);
  });

  const usage: [string, string[], RegExp][] = [
    ["an unknown option", ["ls", "--bogus"], /unknown option --bogus/],
    ["an option of another command", ["stats", "--dry-run"], /stats does not take --dry-run/],
    ["a bad status", ["ls", "--status", "done"], /--status must be one of generating, complete, failed, expired/],
    ["a missing job id", ["zip"], /zip needs <jobId>/],
    ["an extra argument", ["stats", "extra"], /unexpected argument "extra"/],
    ["a missing option value", ["zip", "x", "--out"], /--out/],
  ];
  it.each(usage)("exits 2 with one line for %s", async (_name, args, pattern) => {
    expectOneLineError(await cli(["--base-path", fx.basePath, ...args]), 2, pattern);
  });

  it("exits 1 with one line for a failed operation", async () => {
    expectOneLineError(
      await cli(["zip", "no-such-job", "--base-path", fx.basePath]),
      1,
      /Job "no-such-job" not found .*\[JOB_NOT_FOUND\]$/,
    );
    expectOneLineError(await cli(["zip", fx.failed.jobId, "--base-path", fx.basePath]), 1, /\[ZIP_NOT_READY\]$/);
    expectOneLineError(await cli(["zip", "../etc", "--base-path", fx.basePath]), 1, /\[INVALID_JOB_ID\]$/);
    expectOneLineError(
      await cli(["stats", "--base-path", fx.basePath], { env: { JOB_EXPIRY_HOURS: "two days" } }),
      1,
      /JOB_EXPIRY_HOURS/,
    );
    const missing = path.join(await tempDir(), "nowhere");
    expectOneLineError(await cli(["ls", "--base-path", missing]), 1, /No job storage at/);
    await expect(fs.stat(missing)).rejects.toMatchObject({ code: "ENOENT" }); // not created
  });

  it("refuses to clean up a directory that is not a job storage", async () => {
    const notStorage = await tempDir();
    const victim = path.join(notStorage, "Documents");
    await fs.mkdir(victim);
    const old = new Date(Date.now() - 10 * HOUR_MS);
    await fs.utimes(victim, old, old);
    expectOneLineError(await cli(["cleanup", "--base-path", notStorage]), 1, /No job storage at/);
    expect((await fs.stat(victim)).isDirectory()).toBe(true);
  });
});
