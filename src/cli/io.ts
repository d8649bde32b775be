/**
 * What the command line reads and writes, so that `run()` can be driven by
 * tests without a real process.
 */

/** A text sink such as `process.stdout`. */
export interface CliOutput {
  write(chunk: string): unknown;
  /** True when it is a terminal: progress bars and colours only go there. */
  isTTY?: boolean;
  /** Terminal width, when known. */
  columns?: number;
}

/** The process around `run()`. */
export interface CliIo {
  stdout: CliOutput;
  stderr: CliOutput;
  /** Environment variables (`JOBS_BASE_PATH`, `JOB_EXPIRY_HOURS`, ...). */
  env: Record<string, string | undefined>;
  /** Directory relative paths (`--base-path`, `--out`) are resolved against. */
  cwd: string;
}

/** The real process. */
export function processIo(): CliIo {
  return { stdout: process.stdout, stderr: process.stderr, env: process.env, cwd: process.cwd() };
}

/** A failure of the command line itself (unknown command, bad option): exit code 2. */
export class UsageError extends Error {
  override readonly name = "UsageError";
  /** Print the list of commands after the message (there is no command to point at). */
  readonly showUsage: boolean;

  constructor(message: string, options: { showUsage?: boolean } = {}) {
    super(message);
    this.showUsage = options.showUsage === true;
  }
}
