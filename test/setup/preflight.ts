/**
 * Vitest global setup: before any test starts, checks that the system tools
 * the tests read ZIPs back with are on PATH, and otherwise ends the run with
 * one line naming them and how to get them. 7-Zip is not among them: it comes
 * from npm (`7zip-bin`, see `test/helpers/zip-readers.ts`).
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";

const execFileAsync = promisify(execFile);

/** A tool npm cannot bring, and the package that brings it. */
interface SystemTool {
  name: string;
  /** The Debian/Ubuntu package (apt-get). */
  apt: string;
  /** The Homebrew formula, for the rare Mac without it. */
  brew: string;
}

export const SYSTEM_TOOLS: readonly SystemTool[] = [
  { name: "zip", apt: "zip", brew: "zip" },
  { name: "unzip", apt: "unzip", brew: "unzip" },
  { name: "zipinfo", apt: "unzip", brew: "unzip" },
  { name: "python3", apt: "python3", brew: "python" },
];

// Prints each argument the shell cannot find. Looking up, not starting: a pyenv
// python3 shim takes seconds to start on a busy machine, and every run pays this.
const PRINT_MISSING = 'for tool do command -v "$tool" >/dev/null 2>&1 || echo "$tool"; done';

/** The tools of {@link SYSTEM_TOOLS} that are not on `env.PATH`. */
export async function findMissingTools(env: NodeJS.ProcessEnv = process.env): Promise<SystemTool[]> {
  // /bin/sh by its absolute path: the PATH being checked may not hold a shell.
  const { stdout } = await execFileAsync("/bin/sh", ["-c", PRINT_MISSING, "sh", ...SYSTEM_TOOLS.map((tool) => tool.name)], { env });
  const missing = new Set(stdout.split("\n").filter((line) => line !== ""));
  return SYSTEM_TOOLS.filter((tool) => missing.has(tool.name));
}

/** The one line that ends the run: which tools are missing and the command that installs them. */
export function missingToolsMessage(missing: readonly SystemTool[], platform: NodeJS.Platform = process.platform): string {
  const names = missing.map((tool) => tool.name).join(", ");
  const packages = [...new Set(missing.map((tool) => (platform === "darwin" ? tool.brew : tool.apt)))].join(" ");
  const install = platform === "darwin" ? `brew install ${packages}` : `apt-get install ${packages}`;
  const noun = missing.length === 1 ? "is" : "are";
  return `ephemeral-jobs tests: ${names} ${noun} not on PATH (the tests read ZIPs back with ${missing.length === 1 ? "it" : "them"}); install with: ${install}`;
}

export async function setup(): Promise<void> {
  const missing = await findMissingTools();
  if (missing.length === 0) return;
  // Thrown errors come out of vitest as a banner plus "No test files found"; one line says it better.
  process.stderr.write(`${missingToolsMessage(missing)}\n`);
  process.exit(1);
}
