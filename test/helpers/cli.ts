/**
 * Runs the `ephemeral-jobs` bin (the TypeScript source, through tsx) as a
 * child process, and the CLI's one-line error contract.
 */
import { execFile } from "node:child_process";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { expect } from "vitest";

const execFileAsync = promisify(execFile);
const require = createRequire(import.meta.url);

/** The repository root. */
export const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const BIN = path.join(ROOT, "src/cli/index.ts");
// An absolute loader URL, so the bin also runs from another working directory.
const TSX = pathToFileURL(path.join(path.dirname(require.resolve("tsx/package.json")), "dist/loader.mjs")).href;

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the bin with `args`; never rejects. The storage variables come only from `options.env`. */
export async function cli(args: string[], options: { cwd?: string; env?: Record<string, string> } = {}): Promise<CliResult> {
  const env: Record<string, string | undefined> = { ...process.env, ...options.env };
  if (!options.env?.JOBS_BASE_PATH) delete env.JOBS_BASE_PATH;
  for (const name of ["JOB_EXPIRY_HOURS", "MAX_FILE_SIZE_MB", "MAX_PROJECT_SIZE_MB"]) {
    if (!options.env?.[name]) delete env[name];
  }
  delete env.NODE_OPTIONS;
  try {
    const { stdout, stderr } = await execFileAsync(process.execPath, ["--import", TSX, BIN, ...args], {
      cwd: options.cwd ?? ROOT,
      env,
      maxBuffer: 16 * 1024 * 1024,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failure = error as { code?: number; stdout?: string; stderr?: string };
    if (typeof failure.code !== "number") throw error;
    return { code: failure.code, stdout: failure.stdout ?? "", stderr: failure.stderr ?? "" };
  }
}

/** The one-line error contract: exit `code`, nothing on stdout, one `ephemeral-jobs: ` line matching `pattern`. */
export function expectOneLineError(result: CliResult, code: number, pattern: RegExp): void {
  expect(result.code).toBe(code);
  expect(result.stdout).toBe("");
  const lines = result.stderr.split("\n").filter((line) => line !== "");
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^ephemeral-jobs: /);
  expect(lines[0]).toMatch(pattern);
  expect(result.stderr).not.toMatch(/^\s+at /m);
}
