/**
 * Vitest global setup: before any test starts, checks that the system tools
 * the tests read ZIPs back with are on PATH, and otherwise ends the run with
 * one line naming them and how to get them. 7-Zip is not among them: it comes
 * from npm (`7zip-bin`, see `test/helpers/zip-readers.ts`).
 */
import { execFile } from "node:child_process";

/** A tool npm cannot bring, the arguments that make it print its version and exit, and its package. */
interface SystemTool {
  name: string;
  probe: readonly string[];
  /** The Debian/Ubuntu package (apt-get). */
  apt: string;
  /** The Homebrew formula, for the rare Mac without it. */
  brew: string;
}

export const SYSTEM_TOOLS: readonly SystemTool[] = [
  { name: "zip", probe: ["-v"], apt: "zip", brew: "zip" },
  { name: "unzip", probe: ["-v"], apt: "unzip", brew: "unzip" },
  { name: "zipinfo", probe: ["-v"], apt: "unzip", brew: "unzip" },
  { name: "python3", probe: ["--version"], apt: "python3", brew: "python" },
];

/** Whether `name` can be started with this PATH: only "not found" counts as missing, not a failing run. */
function canStart(name: string, args: readonly string[], env: NodeJS.ProcessEnv): Promise<boolean> {
  return new Promise((resolve) => {
    execFile(name, args, { env, timeout: 30_000 }, (error) => {
      const code = (error as NodeJS.ErrnoException | null)?.code;
      resolve(code !== "ENOENT" && code !== "EACCES");
    });
  });
}

/** The tools of {@link SYSTEM_TOOLS} that cannot be started with `env.PATH`. */
export async function findMissingTools(env: NodeJS.ProcessEnv = process.env): Promise<SystemTool[]> {
  const present = await Promise.all(SYSTEM_TOOLS.map((tool) => canStart(tool.name, tool.probe, env)));
  return SYSTEM_TOOLS.filter((_, i) => !present[i]);
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
