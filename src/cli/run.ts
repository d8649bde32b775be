/**
 * The `ephemeral-jobs` command line: argument parsing and dispatch. The bin
 * (`./index.ts`) only calls {@link run}.
 */
import fs from "node:fs/promises";
import { parseArgs } from "node:util";
import { isJobStorageError } from "../errors.js";
import { cleanupCommand, lsCommand, statsCommand, verifyCommand, zipCommand, type CommonOptions } from "./commands.js";
import { demoCommand } from "./demo.js";
import { oneLine } from "./format.js";
import { UsageError, processIo, type CliIo } from "./io.js";
import { COMMANDS, COMMON_OPTIONS, OPTIONS, helpText, isCommandName, shortUsage } from "./usage.js";

/** Exit codes of the command line. */
export const EXIT_OK = 0;
/** A failed operation (no such job, a bad environment variable, a disk error). */
export const EXIT_FAILURE = 1;
/** A usage error (unknown command or option, missing argument). */
export const EXIT_USAGE = 2;

async function readVersion(): Promise<string> {
  // src/cli/run.ts and dist/cli/run.js both sit two levels below package.json.
  const manifest = JSON.parse(await fs.readFile(new URL("../../package.json", import.meta.url), "utf8")) as { version: string };
  return manifest.version;
}

function parse(argv: readonly string[]) {
  try {
    return parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: true, strict: true, tokens: true });
  } catch (error) {
    // parseArgs errors (unknown option, missing value) are usage errors.
    const message = error instanceof Error ? error.message : String(error);
    const unknown = /^Unknown option '([^']+)'/.exec(message);
    throw new UsageError(unknown ? `unknown option ${unknown[1]}` : message);
  }
}

/** Runs the command; resolves to its exit code when it sets one (`verify` finding a fault). */
async function dispatch(argv: readonly string[], io: CliIo): Promise<number | void> {
  const { values, positionals, tokens } = parse(argv);
  const [command, ...rest] = positionals;
  if (values.version) {
    const version = await readVersion();
    io.stdout.write(values.json ? `${JSON.stringify({ version })}\n` : `${version}\n`);
    return;
  }
  if (values.help || command === "help") {
    io.stdout.write(helpText());
    return;
  }
  if (command === undefined) throw new UsageError("missing command", { showUsage: true });
  if (!isCommandName(command)) throw new UsageError(`unknown command ${JSON.stringify(command)}`, { showUsage: true });
  const spec = COMMANDS[command];

  const allowed = new Set<string>([...COMMON_OPTIONS, ...spec.options]);
  for (const token of tokens) {
    if (token.kind === "option" && !allowed.has(token.name)) {
      throw new UsageError(`${command} does not take ${token.rawName}`);
    }
  }
  if (rest.length < spec.positionals.length) {
    throw new UsageError(`${command} needs <${spec.positionals[rest.length]}>`);
  }
  if (rest.length > spec.positionals.length) {
    throw new UsageError(`unexpected argument ${JSON.stringify(rest[spec.positionals.length])} for ${command}`);
  }

  const common: CommonOptions = { json: values.json === true, basePath: values["base-path"] };
  switch (command) {
    case "stats":
      return statsCommand(io, common);
    case "ls":
      return lsCommand(io, common, { status: values.status, user: values.user });
    case "cleanup":
      return cleanupCommand(io, common, values["dry-run"] === true);
    case "zip":
      return zipCommand(io, common, rest[0]!, values.out);
    case "demo":
      return demoCommand(io, common);
    case "verify":
      return verifyCommand(io, common, rest[0]!);
    default:
      // A command added to COMMANDS without a case here fails to compile.
      return command satisfies never;
  }
}

/**
 * Runs the command line with `argv` (without `node` and the script) and
 * resolves to the exit code. Never throws: an error is one line on stderr,
 * `ephemeral-jobs: <message>`, without a stack trace.
 *
 * @example
 * ```ts
 * process.exitCode = await run(process.argv.slice(2));
 * ```
 */
export async function run(argv: readonly string[], io: CliIo = processIo()): Promise<number> {
  try {
    return (await dispatch(argv, io)) ?? EXIT_OK;
  } catch (error) {
    if (error instanceof UsageError) {
      // Without a known command, show them all (as git and npm do); otherwise one line.
      io.stderr.write(
        error.showUsage
          ? `ephemeral-jobs: ${oneLine(error.message)}\n\n${shortUsage()}`
          : `ephemeral-jobs: ${oneLine(error.message)} (see ephemeral-jobs --help)\n`,
      );
      return EXIT_USAGE;
    }
    const message = error instanceof Error ? error.message : String(error);
    const code = isJobStorageError(error) ? ` [${error.code}]` : "";
    io.stderr.write(`ephemeral-jobs: ${oneLine(message)}${code}\n`);
    return EXIT_FAILURE;
  }
}
