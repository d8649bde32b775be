/**
 * The measuring kit shared by the scenarios: timing, interleaved rounds,
 * summaries, targets, printing and the machine description.
 */
import { execFileSync, spawn } from "node:child_process";
import fs from "node:fs";
import { Session } from "node:inspector/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));
export const REPO_DIR = path.dirname(BENCH_DIR);

// ---------------------------------------------------------------- results

export interface Summary {
  name: string;
  /** "ours", "baseline" or "reference" (a peer shown for context, no target). */
  role: "ours" | "baseline" | "reference";
  unit: "ms" | "MiB" | "MB";
  n: number;
  median: number;
  min: number;
  max: number;
  /** Every sample, in round order (so two summaries of one interleaved run pair up by index). */
  samples: number[];
}

export interface Ratio {
  ours: string;
  baseline: string;
  /** median(ours) / median(baseline): the figure the targets are checked against. */
  ratio: number;
  /**
   * Median over rounds of ours/baseline within the same round: a second
   * estimate, robust to the machine's load drifting during the run (both sides
   * of a round ran back to back). A large gap between the two says the run was noisy.
   */
  pairedRatio: number;
  pairs: number;
}

export interface Check {
  label: string;
  value: number;
  unit: "x" | "ms" | "MiB" | "MB";
  op: "<=" | "<";
  target: number;
  pass: boolean;
  /** "issue" targets decide PASS/MISS; "seed" ones are the seed's promises, for reference. */
  source: "issue" | "seed";
}

export interface ScenarioResult {
  scenario: string;
  title: string;
  notes: string[];
  summaries: Summary[];
  ratios: Ratio[];
  checks: Check[];
}

export function summarize(name: string, role: Summary["role"], samples: number[], unit: Summary["unit"] = "ms"): Summary {
  const sorted = [...samples].sort((a, b) => a - b);
  const n = sorted.length;
  return { name, role, unit, n, median: median(sorted), min: sorted[0] ?? Number.NaN, max: sorted[n - 1] ?? Number.NaN, samples };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const n = sorted.length;
  if (n === 0) return Number.NaN;
  return n % 2 === 1 ? sorted[(n - 1) / 2]! : (sorted[n / 2 - 1]! + sorted[n / 2]!) / 2;
}

export function ratio(ours: Summary, baseline: Summary): Ratio {
  const pairs = Math.min(ours.samples.length, baseline.samples.length);
  const paired = Array.from({ length: pairs }, (_, i) => ours.samples[i]! / baseline.samples[i]!);
  return { ours: ours.name, baseline: baseline.name, ratio: ours.median / baseline.median, pairedRatio: median(paired), pairs };
}

export function check(label: string, value: number, unit: Check["unit"], op: Check["op"], target: number, source: Check["source"] = "issue"): Check {
  return { label, value, unit, op, target, source, pass: op === "<=" ? value <= target : value < target };
}

// ---------------------------------------------------------------- timing

let profiler: { dir: string; session: Session; count: number } | undefined;

/**
 * `--profile DIR`: every call of {@link time} that names a label (the "ours"
 * side of each comparison) is CPU-profiled through the inspector, one
 * `.cpuprofile` per call in DIR; `bench/profile-summary.ts DIR` merges them.
 * Sampling slows the profiled calls a little: use profiles for where the
 * time goes, not for the figures.
 */
export async function enableProfiling(dir: string): Promise<void> {
  await fs.promises.mkdir(dir, { recursive: true });
  const session = new Session();
  session.connect();
  await session.post("Profiler.enable");
  await session.post("Profiler.setSamplingInterval", { interval: 200 });
  profiler = { dir, session, count: 0 };
}

/** Runs `fn` and returns its wall time in ms; with `--profile`, a labelled call is profiled. */
export async function time(fn: () => Promise<unknown>, label?: string): Promise<number> {
  const active = label === undefined ? undefined : profiler;
  if (active) await active.session.post("Profiler.start");
  const start = performance.now();
  await fn();
  const ms = performance.now() - start;
  if (active) {
    const { profile } = await active.session.post("Profiler.stop");
    const name = `${label!.replace(/[^\w.-]+/g, "_")}-${String((active.count += 1)).padStart(4, "0")}.cpuprofile`;
    await fs.promises.writeFile(path.join(active.dir, name), JSON.stringify(profile));
  }
  return ms;
}

/**
 * One contender of an interleaved measurement: `run` does its own untimed
 * preparation and returns the milliseconds of the part that is measured.
 */
export interface Contender {
  name: string;
  run: (round: number) => Promise<number>;
  /** Run in at most this many timed rounds (the first ones); for slow reference peers. @default all */
  timedRounds?: number;
  /** Also run in the warm-up rounds. @default true */
  warmup?: boolean;
}

/**
 * Runs `warmup` + `rounds` rounds; each round runs every contender once, the
 * starting contender rotating from round to round (ours, baseline / baseline,
 * ours / ...) so neither side always profits from a warmer cache or a quieter
 * disk. Warm-up rounds are discarded.
 */
export async function interleave(
  contenders: Contender[],
  options: { rounds: number; warmup: number; onRound?: (round: number) => void },
): Promise<Map<string, number[]>> {
  const samples = new Map<string, number[]>(contenders.map((c) => [c.name, []]));
  const total = options.warmup + options.rounds;
  for (let round = 0; round < total; round += 1) {
    for (let k = 0; k < contenders.length; k += 1) {
      const contender = contenders[(round + k) % contenders.length]!;
      const warm = round < options.warmup;
      if (warm && contender.warmup === false) continue;
      if (!warm && round - options.warmup >= (contender.timedRounds ?? Infinity)) continue;
      const ms = await contender.run(round);
      if (!warm) samples.get(contender.name)!.push(ms);
    }
    options.onRound?.(round);
  }
  return samples;
}

/** A line on stderr that overwrites itself on a terminal (progress, not results). */
export function progress(text: string): void {
  if (process.stderr.isTTY) process.stderr.write(`\r\x1b[K${text}`);
}

export function progressDone(): void {
  if (process.stderr.isTTY) process.stderr.write("\r\x1b[K");
}

// ---------------------------------------------------------------- printing

function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return "n/a";
  if (Math.abs(value) >= 100) return value.toFixed(0);
  if (Math.abs(value) >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

function formatValue(value: number, unit: Check["unit"]): string {
  return unit === "x" ? `${value.toFixed(2)}x` : `${formatNumber(value)} ${unit}`;
}

function table(header: string[], rows: string[][], alignLeft = 1): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string =>
    cells.map((cell, i) => (i < alignLeft ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join("  ").trimEnd();
  return [line(header), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n");
}

export function formatScenario(result: ScenarioResult): string {
  const out: string[] = [`== ${result.scenario}: ${result.title} ==`];
  out.push(
    table(
      ["measurement", "role", "n", "median", "min", "max", "unit"],
      result.summaries.map((s) => [s.name, s.role, String(s.n), formatNumber(s.median), formatNumber(s.min), formatNumber(s.max), s.unit]),
      2,
    ),
  );
  if (result.ratios.length > 0) {
    out.push("");
    out.push(
      table(
        ["ours", "vs", "ratio of medians", "median of paired ratios"],
        result.ratios.map((r) => [r.ours, r.baseline, `${r.ratio.toFixed(2)}x`, `${r.pairedRatio.toFixed(2)}x (${r.pairs} rounds)`]),
        2,
      ),
    );
  }
  if (result.checks.length > 0) {
    out.push("");
    out.push(
      table(
        ["target", "measured", "target", "result"],
        result.checks.map((c) => [
          c.source === "seed" ? `${c.label} (seed's promise)` : c.label,
          formatValue(c.value, c.unit),
          `${c.op} ${formatValue(c.target, c.unit)}`,
          c.pass ? "PASS" : "MISS",
        ]),
      ),
    );
  }
  for (const note of result.notes) out.push(`note: ${note}`);
  return out.join("\n");
}

// ---------------------------------------------------------------- machine

export interface MachineInfo {
  cpu: string;
  cores: number;
  memoryGiB: number;
  node: string;
  os: string;
  benchDir: string;
  fsType: string;
  zipCli: string;
  uvThreadpoolSize: string;
  /** The commit measured, and whether src/ had uncommitted changes. */
  code: string;
}

function fsTypeOf(dir: string): string {
  let statType = "";
  try {
    statType = execFileSync("stat", ["-f", "-c", "%T", dir], { encoding: "utf8" }).trim();
  } catch {
    statType = `statfs type 0x${fs.statfsSync(dir).type.toString(16)}`;
  }
  // stat -f says "ext2/ext3" for ext4; /proc/mounts names it, with its options.
  try {
    const real = fs.realpathSync(dir);
    let best: { mount: string; type: string; options: string } | undefined;
    for (const line of fs.readFileSync("/proc/mounts", "utf8").split("\n")) {
      const [, mount, type, options] = line.split(" ");
      if (mount === undefined || type === undefined || options === undefined) continue;
      const inside = real === mount || real.startsWith(mount.endsWith("/") ? mount : `${mount}/`);
      if (inside && (best === undefined || mount.length > best.mount.length)) best = { mount, type, options };
    }
    if (best) return `${best.type} (stat -f: ${statType}; mounted on ${best.mount}, ${best.options})`;
  } catch {
    // not Linux: keep what stat said
  }
  return statType;
}

export function machineInfo(benchDir: string): MachineInfo {
  let zipCli = "not installed";
  try {
    const banner = execFileSync("zip", ["-v"], { encoding: "utf8" });
    zipCli = /Zip [0-9.]+[^\n]*/.exec(banner)?.[0]?.trim() ?? "zip";
  } catch {
    // reported as missing
  }
  return {
    cpu: os.cpus()[0]?.model ?? "unknown",
    cores: os.availableParallelism(),
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    benchDir,
    fsType: fsTypeOf(benchDir),
    zipCli,
    uvThreadpoolSize: process.env.UV_THREADPOOL_SIZE ?? "4 (default)",
    code: codeVersion(),
  };
}

/** `git rev-parse` and `git status` (read-only): which code the figures belong to. */
function codeVersion(): string {
  try {
    const run = (args: string[]): string => execFileSync("git", args, {
        cwd: REPO_DIR,
        encoding: "utf8",
        stdio: ["ignore", "pipe", "ignore"],
        env: { ...process.env, GIT_OPTIONAL_LOCKS: "0" }, // `git status` must not even refresh the index
      }).trim();
    const commit = run(["rev-parse", "--short", "HEAD"]);
    const changed = run(["status", "--porcelain", "--", "src"]).split("\n").filter(Boolean).length;
    return changed === 0 ? `commit ${commit}` : `commit ${commit} + ${changed} uncommitted change(s) in src/`;
  } catch {
    return "unknown (not a git checkout)";
  }
}

export function formatMachine(info: MachineInfo): string {
  return `machine: ${info.cpu}, ${info.cores} cores, ${info.memoryGiB} GiB RAM; Node ${info.node}; ${info.os}; libuv pool ${info.uvThreadpoolSize}\nbench dir: ${info.benchDir} on ${info.fsType}\nzip CLI: ${info.zipCli}\ncode: ${info.code}`;
}

// ---------------------------------------------------------------- children

/**
 * Runs `node [nodeArgs] --import tsx bench/<script> ...args` and parses the
 * last line of its stdout as JSON.
 */
export async function runChild<T>(script: string, args: string[], nodeArgs: string[] = []): Promise<T> {
  const child = spawn(process.execPath, [...nodeArgs, "--import", "tsx", path.join(BENCH_DIR, script), ...args], {
    cwd: REPO_DIR,
    stdio: ["ignore", "pipe", "inherit"],
  });
  let stdout = "";
  child.stdout.setEncoding("utf8");
  child.stdout.on("data", (chunk: string) => (stdout += chunk));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once("error", reject);
    child.once("close", resolve);
  });
  if (code !== 0) throw new Error(`${script} exited with ${code}: ${stdout.slice(-2000)}`);
  const last = stdout.trim().split("\n").at(-1) ?? "";
  return JSON.parse(last) as T;
}

/** Runs a command and resolves when it exits 0. */
export async function exec(command: string, args: string[], cwd: string): Promise<void> {
  const child = spawn(command, args, { cwd, stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (chunk: string) => (stderr += chunk));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once("error", reject);
    child.once("close", resolve);
  });
  if (code !== 0) throw new Error(`${command} ${args.join(" ")} exited with ${code}: ${stderr.slice(-2000)}`);
}

// ---------------------------------------------------------------- settings

/** Iteration counts and sizes; every one can be set from the command line. */
export interface Settings {
  seed: number;
  /** Timed rounds of the writeFiles(S) comparison. */
  writeRounds: number;
  /** Timed single writes per side. */
  singleWrites: number;
  /** Timed rounds of the ZIP of M, and of L (ours and the zip CLI). */
  zipMRounds: number;
  zipLRounds: number;
  /** Timed rounds of the reference peers (archiver, naive yazl), which skip the warm-up. */
  zipReferenceRounds: number;
  /** Jobs per base path in the scale scenario, timed rounds of getStats/listJobs, and of open(). */
  scaleJobs: number;
  scaleRounds: number;
  scaleOpenRounds: number;
  /** Expired jobs per cleanup round, and timed rounds. */
  cleanupJobs: number;
  cleanupRounds: number;
  /** Warm-up rounds before each comparison (discarded). */
  warmup: number;
  /** Also measure archiver's and naive yazl's peak RSS on L. */
  rssReferences: boolean;
}

export interface BenchContext {
  /** This run's own directory (removed at the end unless --keep). */
  root: string;
  settings: Settings;
}
