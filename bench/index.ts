/**
 * The benchmark suite: `npm run bench [-- scenario... --json FILE ...]`.
 *
 * Scenarios (always run in this order, whatever order they are named in):
 *   writes   writeFiles(S) / writeFile against raw temp-file-plus-rename writes
 *   http     32 agents x 50 POST /files over loopback (host and client in child processes) against in-process writeFile
 *   zip      completeJob on M and L against `zip -r -q -6`, archiver, naive yazl; peak RSS
 *   scale    getStats/listJobs/open with 10,000 jobs of 50 files against 10,000 of 1 file; heap
 *   cleanup  cleanupExpired() of 200 expired jobs against fs.promises.rm of the same trees
 *
 * Writes (then http, which writes too) come first and cleanup last: on the disk this was written on (ext4
 * without a journal) creating files is far slower for a few minutes after a
 * mass delete, so delete-heavy work must not precede the write benchmarks.
 * Everything lives in one fresh directory under os.tmpdir() (or --dir) that is
 * removed at the end (unless --keep).
 */
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { enableProfiling, exec, formatMachine, formatScenario, machineInfo, time, type BenchContext, type ScenarioResult, type Settings } from "./lib.js";
import { cleanupScenario } from "./scenarios/cleanup.js";
import { httpScenario } from "./scenarios/http.js";
import { recoveryScenario } from "./scenarios/recovery.js";
import { watchScenario } from "./scenarios/watch.js";
import { scaleScenario } from "./scenarios/scale.js";
import { writesScenario } from "./scenarios/writes.js";
import { zipScenario } from "./scenarios/zip.js";
import { DEFAULT_SEED } from "./data.js";

const SCENARIOS = {
  writes: writesScenario,
  recovery: recoveryScenario,
  watch: watchScenario,
  http: httpScenario,
  zip: zipScenario,
  scale: scaleScenario,
  cleanup: cleanupScenario,
} satisfies Record<string, (ctx: BenchContext) => Promise<ScenarioResult | ScenarioResult[]>>;
type ScenarioName = keyof typeof SCENARIOS;

/** Defaults: a full run takes 7 to 10 minutes on 2 cores (removing the 500,000 scale files included). */
const DEFAULTS: Settings = {
  seed: DEFAULT_SEED,
  writeRounds: 40,
  singleWrites: 500,
  zipMRounds: 5,
  zipLRounds: 3,
  zipReferenceRounds: 2,
  scaleJobs: 10_000,
  scaleRounds: 12,
  scaleOpenRounds: 3,
  cleanupJobs: 200,
  cleanupRounds: 7,
  warmup: 1,
  rssReferences: false,
};

/** --quick: a smoke run of every code path in two or three minutes; its figures mean little. */
const QUICK: Partial<Settings> = {
  writeRounds: 5,
  singleWrites: 50,
  zipMRounds: 1,
  zipLRounds: 1,
  zipReferenceRounds: 1,
  scaleJobs: 500,
  scaleRounds: 3,
  scaleOpenRounds: 2,
  cleanupJobs: 20,
  cleanupRounds: 2,
};

const USAGE = `usage: npm run bench -- [writes] [http] [zip] [scale] [cleanup] [options]

With no scenario named, all five run (always in that order).

options:
  --json [FILE]          also write the results as JSON (default file: <tmpdir>/ephemeral-jobs-bench-<time>.json)
  --dir DIR              where the run's scratch directory goes (default: os.tmpdir())
  --keep                 keep the scratch directory
  --quick                tiny sizes and counts: checks that everything runs, figures mean little
  --rounds N             timed rounds of every comparison (writes, zip M and L, scale, cleanup)
  --warmup N             discarded warm-up rounds before each comparison (default ${DEFAULTS.warmup})
  --write-rounds N       writeFiles(S) batches per side (default ${DEFAULTS.writeRounds})
  --single-writes N      single writes per side (default ${DEFAULTS.singleWrites})
  --zip-m-rounds N       (default ${DEFAULTS.zipMRounds}); 0 skips M
  --zip-l-rounds N       (default ${DEFAULTS.zipLRounds}); 0 skips L
  --zip-reference-rounds N  timed rounds of archiver and naive yazl (default ${DEFAULTS.zipReferenceRounds}; no warm-up)
  --scale-jobs N         jobs per base path (default ${DEFAULTS.scaleJobs})
  --scale-rounds N       getStats/listJobs rounds (default ${DEFAULTS.scaleRounds})
  --scale-open-rounds N  open() rounds (default ${DEFAULTS.scaleOpenRounds})
  --cleanup-jobs N       expired jobs per round (default ${DEFAULTS.cleanupJobs})
  --cleanup-rounds N     (default ${DEFAULTS.cleanupRounds})
  --seed N               data seed (default ${DEFAULTS.seed})
  --rss-references       also measure the peak RSS of archiver and naive yazl zipping L (about 30 s more)
  --profile DIR          CPU-profile every timed call of ours into DIR (one .cpuprofile each);
                         summarize with: npx tsx bench/profile-summary.ts DIR
`;

interface Cli {
  names: ScenarioName[];
  settings: Settings;
  dir: string;
  json: string | undefined;
  keep: boolean;
  profile: string | undefined;
}

function usageError(message: string): never {
  process.stderr.write(`bench: ${message}\n\n${USAGE}`);
  process.exit(2);
}

function parse(): Cli {
  let parsed;
  try {
    parsed = parseArgs({
      allowPositionals: true,
      options: {
        help: { type: "boolean", short: "h" },
        json: { type: "string" },
        dir: { type: "string" },
        keep: { type: "boolean" },
        quick: { type: "boolean" },
        rounds: { type: "string" },
        warmup: { type: "string" },
        "write-rounds": { type: "string" },
        "single-writes": { type: "string" },
        "zip-m-rounds": { type: "string" },
        "zip-l-rounds": { type: "string" },
        "zip-reference-rounds": { type: "string" },
        "scale-jobs": { type: "string" },
        "scale-rounds": { type: "string" },
        "scale-open-rounds": { type: "string" },
        "cleanup-jobs": { type: "string" },
        "cleanup-rounds": { type: "string" },
        seed: { type: "string" },
        profile: { type: "string" },
        "rss-references": { type: "boolean" },
      },
      // `--json` with no file name: the parser wants a value, so it is patched in below.
      args: process.argv.slice(2).flatMap((arg, i, all) => {
        const next = all[i + 1];
        return arg === "--json" && (next === undefined || next.startsWith("-") || next in SCENARIOS) ? [arg, ""] : [arg];
      }),
    });
  } catch (error) {
    usageError((error as Error).message); // an unknown option, a missing value
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  const unknown = positionals.filter((name) => !(name in SCENARIOS));
  if (unknown.length > 0) usageError(`unknown scenario ${unknown.join(", ")}; expected ${Object.keys(SCENARIOS).join(", ")}`);
  const int = (name: string, value: string | undefined): number | undefined => {
    if (value === undefined) return undefined;
    const n = Number(value);
    if (!Number.isInteger(n) || n < 0) usageError(`--${name} must be a non-negative integer, got "${value}"`);
    return n;
  };
  const settings: Settings = { ...DEFAULTS, ...(values.quick ? QUICK : {}) };
  const rounds = int("rounds", values.rounds);
  if (rounds !== undefined) Object.assign(settings, { writeRounds: rounds, zipMRounds: rounds, zipLRounds: rounds, scaleRounds: rounds, scaleOpenRounds: rounds, cleanupRounds: rounds });
  type NumericSetting = { [K in keyof Settings]: Settings[K] extends number ? K : never }[keyof Settings];
  const set = (key: NumericSetting, flag: string): void => {
    const n = int(flag, values[flag as keyof typeof values] as string | undefined);
    if (n !== undefined) settings[key] = n;
  };
  set("warmup", "warmup");
  set("writeRounds", "write-rounds");
  set("singleWrites", "single-writes");
  set("zipMRounds", "zip-m-rounds");
  set("zipLRounds", "zip-l-rounds");
  set("zipReferenceRounds", "zip-reference-rounds");
  set("scaleJobs", "scale-jobs");
  set("scaleRounds", "scale-rounds");
  set("scaleOpenRounds", "scale-open-rounds");
  set("cleanupJobs", "cleanup-jobs");
  set("cleanupRounds", "cleanup-rounds");
  set("seed", "seed");
  if (values["rss-references"]) settings.rssReferences = true;
  const order = Object.keys(SCENARIOS) as ScenarioName[];
  const names = positionals.length === 0 ? order : order.filter((name) => positionals.includes(name));
  const json = values.json === undefined ? undefined : values.json || path.join(os.tmpdir(), `ephemeral-jobs-bench-${new Date().toISOString().replace(/[:.]/g, "-")}.json`);
  return {
    names,
    settings,
    dir: path.resolve(values.dir ?? os.tmpdir()),
    json,
    keep: values.keep === true,
    profile: values.profile === undefined ? undefined : path.resolve(values.profile),
  };
}

function loadavg(): string {
  return os
    .loadavg()
    .map((n) => n.toFixed(2))
    .join(" ");
}

/** Creating 2,000 empty files: shows whether the disk is in its slow phase after a mass delete. */
async function probeCreateRate(root: string): Promise<string> {
  const dir = path.join(root, "probe");
  await fs.mkdir(dir);
  const count = 2000;
  const ms = await time(async () => {
    for (let i = 0; i < count; i += 1) await fs.writeFile(path.join(dir, `f${i}`), "");
  });
  return `disk probe: creating ${count} empty files one by one took ${ms.toFixed(0)} ms (${((ms * 1000) / count).toFixed(0)} us/file); a figure far above the usual one means the disk is still slow after a mass delete: wait a few minutes and run again.`;
}

async function main(): Promise<void> {
  const { names, settings, dir, json, keep, profile } = parse();
  if (profile) await enableProfiling(profile);
  await fs.mkdir(dir, { recursive: true });
  const root = await fs.mkdtemp(path.join(dir, "ephemeral-jobs-bench-"));
  const onSignal = (): void => {
    process.stderr.write(`\ninterrupted: remove ${root} yourself (rm -rf)\n`);
    process.exit(130);
  };
  process.once("SIGINT", onSignal);
  const started = performance.now();
  const machine = machineInfo(root);
  const command = `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(" ")}` : ""}`;
  console.log(`ephemeral-jobs benchmark: ${command}`);
  console.log(formatMachine(machine));
  console.log(`settings: ${JSON.stringify(settings)}`);
  console.log(`scenarios: ${names.join(", ")} (writes first, cleanup last: this disk creates files far slower for a few minutes after a mass delete)`);
  const probe = await probeCreateRate(root);
  console.log(probe);
  console.log(`load average at start: ${loadavg()} (other processes on the machine share its ${machine.cores} cores)`);
  if (profile) console.log(`profiling the timed calls of ours into ${profile}: figures of this run are perturbed`);
  console.log("");

  const results: ScenarioResult[] = [];
  try {
    for (const name of names) {
      const scenarioStart = performance.now();
      const produced = await SCENARIOS[name]({ root, settings });
      for (const result of Array.isArray(produced) ? produced : [produced]) {
        results.push(result);
        console.log(formatScenario(result));
        console.log("");
      }
      console.log(`(${name}: ${((performance.now() - scenarioStart) / 1000).toFixed(0)} s; load average now ${loadavg()})\n`);
    }
  } finally {
    if (!keep) {
      process.stderr.write(`removing ${root} ...\n`);
      // rm -rf is several times faster than fs.rm on a few hundred thousand files.
      const ms = await time(() => exec("rm", ["-rf", root], dir).catch(() => fs.rm(root, { recursive: true, force: true })));
      process.stderr.write(`removed in ${(ms / 1000).toFixed(0)} s\n`);
    }
  }

  const checks = results.flatMap((r) => r.checks.filter((c) => c.source === "issue"));
  const missed = checks.filter((c) => !c.pass);
  const seconds = (performance.now() - started) / 1000;
  console.log(`== summary: ${checks.length - missed.length}/${checks.length} targets met; total ${seconds.toFixed(0)} s ==`);
  for (const c of checks) {
    const value = c.unit === "x" ? `${c.value.toFixed(2)}x` : `${c.value.toFixed(2)} ${c.unit}`;
    const target = c.unit === "x" ? `${c.target}x` : `${c.target} ${c.unit}`;
    console.log(`${c.pass ? "PASS" : "MISS"}  ${c.label}: ${value} (target ${c.op} ${target})`);
  }
  if (!keep) console.log("note: the run's files were just deleted; give this disk a few minutes before measuring writes again.");
  if (json) {
    await fs.writeFile(json, `${JSON.stringify({ command, machine, settings, probe, startedAt: new Date(Date.now() - seconds * 1000).toISOString(), seconds, results }, null, 2)}\n`);
    console.log(`results written to ${json}`);
  }
}

await main();
