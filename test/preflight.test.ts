/**
 * The vitest global setup (`test/setup/preflight.ts`): with a tool hidden from
 * PATH, the run ends before any test with one line saying what to install.
 */
import { execFile } from "node:child_process";
import fs from "node:fs/promises";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { SYSTEM_TOOLS, findMissingTools, missingToolsMessage } from "./setup/preflight.js";
import { tempDir } from "./helpers/temp.js";

const execFileAsync = promisify(execFile);
const require = createRequire(import.meta.url);
const ROOT = fileURLToPath(new URL("..", import.meta.url));

/** Where `name` is on this machine's PATH, as the shell finds it. */
async function locate(name: string): Promise<string> {
  return (await execFileAsync("sh", ["-c", 'command -v "$1"', "sh", name])).stdout.trim();
}

/** A PATH holding only links to `names`. */
async function pathWith(names: readonly string[]): Promise<string> {
  const dir = await tempDir("ej-path-");
  for (const name of names) await fs.symlink(await locate(name), path.join(dir, name));
  return dir;
}

const byName = (name: string) => SYSTEM_TOOLS.find((tool) => tool.name === name)!;

describe("preflight", () => {
  it("finds nothing missing on this machine's PATH", async () => {
    expect(await findMissingTools()).toEqual([]);
  });

  it("names exactly the tools a PATH lacks", async () => {
    const missing = await findMissingTools({ PATH: await pathWith(["zip"]) });
    expect(missing.map((tool) => tool.name)).toEqual(["unzip", "zipinfo", "python3"]);
  });

  it("says in one line what to install, one package per missing tool", () => {
    expect(missingToolsMessage([byName("unzip")], "linux")).toBe(
      "ephemeral-jobs tests: unzip is not on PATH (the tests read ZIPs back with it); install with: apt-get install unzip",
    );
    // zipinfo comes with unzip: the package is named once.
    expect(missingToolsMessage([byName("unzip"), byName("zipinfo"), byName("python3")], "linux")).toBe(
      "ephemeral-jobs tests: unzip, zipinfo, python3 are not on PATH (the tests read ZIPs back with them); install with: apt-get install unzip python3",
    );
    expect(missingToolsMessage([byName("python3")], "darwin")).toMatch(/install with: brew install python$/);
  });

  it("ends a vitest run before any test with that one line", async () => {
    const PATH = await pathWith(["zip", "python3"]);
    const vitest = path.join(path.dirname(require.resolve("vitest/package.json")), "vitest.mjs");
    const env: NodeJS.ProcessEnv = { ...process.env, PATH };
    delete env.NODE_OPTIONS;
    delete env.VITEST;
    let result: { code: number; stdout: string; stderr: string };
    try {
      const { stdout, stderr } = await execFileAsync(process.execPath, [vitest, "run", "test/paths.test.ts"], { cwd: ROOT, env });
      result = { code: 0, stdout, stderr };
    } catch (error) {
      const failure = error as { code?: number; stdout?: string; stderr?: string };
      if (typeof failure.code !== "number") throw error;
      result = { code: failure.code, stdout: failure.stdout ?? "", stderr: failure.stderr ?? "" };
    }
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(`${missingToolsMessage([byName("unzip"), byName("zipinfo")], process.platform)}\n`);
    expect(result.stdout).not.toMatch(/Test Files|✓/); // no test ran
  });
});
