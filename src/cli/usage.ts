/**
 * The command line's commands and options as data: `run.ts` parses and
 * dispatches with it, `--help` and the usage printed after a usage error are
 * rendered from it. Adding a command is one entry in {@link COMMANDS} (and its
 * case in `run.ts`, which the compiler asks for).
 */

/** Every option the parser knows (`node:util` `parseArgs` form). */
export const OPTIONS = {
  json: { type: "boolean" },
  "base-path": { type: "string" },
  status: { type: "string" },
  user: { type: "string" },
  "dry-run": { type: "boolean" },
  out: { type: "string", short: "o" },
  help: { type: "boolean", short: "h" },
  version: { type: "boolean", short: "v" },
} as const;

export type OptionName = keyof typeof OPTIONS;

/** Options every command takes. */
export const COMMON_OPTIONS: readonly OptionName[] = ["json", "base-path", "help"];

/** One command: what it accepts and how the help shows it. */
export interface CommandSpec {
  /** Options beyond {@link COMMON_OPTIONS}. */
  readonly options: readonly OptionName[];
  /** Required positional arguments, in order (`jobId` shows as `<jobId>`). */
  readonly positionals: readonly string[];
  /** The command as typed, with its arguments: `zip <jobId> [--out FILE]`. */
  readonly synopsis: string;
  /** What it does, one help line per item. */
  readonly summary: readonly string[];
}

export const COMMANDS = {
  stats: {
    options: [],
    positionals: [],
    synopsis: "stats",
    summary: ["totals: jobs (by status), files, bytes on disk, free disk"],
  },
  ls: {
    options: ["status", "user"],
    positionals: [],
    synopsis: "ls [--status S] [--user U]",
    summary: [
      "one line per job: id, status, files, size, age, expires in",
      "S is one of generating, complete, failed, expired",
    ],
  },
  cleanup: {
    options: ["dry-run"],
    positionals: [],
    synopsis: "cleanup [--dry-run]",
    summary: ["remove (or, with --dry-run, list) expired jobs and leftovers"],
  },
  zip: {
    options: ["out"],
    positionals: ["jobId"],
    synopsis: "zip <jobId> [--out FILE]",
    summary: [
      "copy a job's ZIP to FILE (default ./<project>.zip); a job",
      "still generating is completed first, which builds the ZIP",
    ],
  },
  verify: {
    options: [],
    positionals: ["jobId"],
    synopsis: "verify <jobId>",
    summary: [
      "re-hash every file of a job against the index; exit 1 and",
      "list what differs, is missing or is unknown to the index",
    ],
  },
  demo: {
    options: [],
    positionals: [],
    synopsis: "demo",
    summary: ["a self-contained run on a temporary base path: plan,", "batch write, fix-up, completion, ZIP check"],
  },
} as const satisfies Record<string, CommandSpec>;

export type CommandName = keyof typeof COMMANDS;

/** Whether `name` is a command (own keys only: `toString` is not one). */
export function isCommandName(name: string): name is CommandName {
  return Object.hasOwn(COMMANDS, name);
}

const SYNOPSIS_WIDTH = 28;

/** The `Commands:` block: every command, its synopsis and summary aligned. */
export function formatCommandList(): string {
  const lines = ["Commands:"];
  for (const spec of Object.values(COMMANDS) as CommandSpec[]) {
    spec.summary.forEach((text, i) => {
      const left = i === 0 ? spec.synopsis : "";
      // A synopsis too long for the column gets its summary on the next line.
      if (i === 0 && left.length >= SYNOPSIS_WIDTH) {
        lines.push(`  ${left}`);
        lines.push(`  ${"".padEnd(SYNOPSIS_WIDTH)}${text}`);
      } else {
        lines.push(`  ${left.padEnd(SYNOPSIS_WIDTH)}${text}`);
      }
    });
  }
  return lines.join("\n");
}

const USAGE_LINE = "Usage: ephemeral-jobs <command> [options]";

/** What follows a usage error on stderr: the usage line and every command, as git and npm do. */
export function shortUsage(): string {
  return `${USAGE_LINE}\n\n${formatCommandList()}\n\nSee ephemeral-jobs --help for the options.\n`;
}

/** `ephemeral-jobs --help`. */
export function helpText(): string {
  return `${USAGE_LINE}

Inspect and maintain the job storage of an ephemeral-jobs host.

${formatCommandList()}

Options:
  --base-path DIR  the host's base path (default: $JOBS_BASE_PATH, else <tmpdir>/jobs)
  --json           machine-readable output (the library's objects, as JSON)
  -h, --help       show this help
  -v, --version    show the version

Environment: JOBS_BASE_PATH, JOB_EXPIRY_HOURS, MAX_FILE_SIZE_MB, MAX_PROJECT_SIZE_MB.
Exit status: 0 on success, 1 when the operation fails, 2 for a usage error.
`;
}
