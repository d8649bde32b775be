/**
 * Top functions by self time in V8 CPU profiles (`node --cpu-prof`, or the
 * bench's `--profile DIR`):
 *
 *   npx tsx bench/profile-summary.ts <file.cpuprofile | dir>... [--top 15] [--match PREFIX]
 *
 * Self time of a node = the sum of the time deltas of the samples that hit
 * it; nodes are merged by function, file and line, and over every profile
 * given (a directory means every .cpuprofile in it whose name starts with
 * PREFIX). Also prints the self time per package / top-level folder, which
 * shows at a glance whether time goes to our code, a dependency or Node.
 * "(idle)" is the main thread waiting: for the thread pool (fs, zlib), the
 * disk or a child process; "(garbage collector)" is GC. Samples in the
 * inspector's own `dispatch` (Profiler.start/stop of the bench's --profile)
 * are left out of every figure, the total included.
 */
import fs from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface CpuProfile {
  nodes: { id: number; callFrame: CallFrame }[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { top: { type: "string", default: "15" }, match: { type: "string", default: "" } },
});
if (positionals.length === 0) throw new Error("usage: profile-summary.ts <file.cpuprofile | dir>... [--top 15] [--match PREFIX]");
const top = Number(values.top);
// Piped into `head`: stop quietly when the reader goes away.
process.stdout.on("error", (error: NodeJS.ErrnoException) => {
  if (error.code === "EPIPE") process.exit(0);
  throw error;
});
const files = positionals.flatMap((target) =>
  fs.statSync(target).isDirectory()
    ? fs
        .readdirSync(target)
        .filter((name) => name.endsWith(".cpuprofile") && name.startsWith(values.match))
        .sort()
        .map((name) => path.join(target, name))
    : [target],
);

function shortUrl(url: string): string {
  const clean = url.replace(/^file:\/\//, "").replace(/\?.*$/, "");
  const modules = clean.lastIndexOf("node_modules/");
  if (modules >= 0) return clean.slice(modules + "node_modules/".length);
  for (const folder of ["/src/", "/bench/"]) {
    const at = clean.lastIndexOf(folder);
    if (at >= 0) return clean.slice(at + 1);
  }
  return clean;
}

const byFunction = new Map<string, number>();
const byPackage = new Map<string, number>();
let totalMicros = 0;
let samples = 0;
for (const file of files) {
  const profile = JSON.parse(fs.readFileSync(file, "utf8")) as CpuProfile;
  const frames = new Map(profile.nodes.map((node) => [node.id, node.callFrame]));
  totalMicros += profile.endTime - profile.startTime;
  samples += profile.samples.length;
  profile.samples.forEach((id, i) => {
    const frame = frames.get(id)!;
    const micros = profile.timeDeltas[i] ?? 0;
    if (frame.functionName === "dispatch" && frame.url === "") {
      totalMicros -= micros; // the profiler's own start/stop, not the measured code
      return;
    }
    const where = frame.url === "" ? "" : shortUrl(frame.url);
    const name = `${frame.functionName || "(anonymous)"}${where === "" ? "" : `  ${where}:${frame.lineNumber + 1}`}`;
    byFunction.set(name, (byFunction.get(name) ?? 0) + micros);
    const pkg =
      where === ""
        ? frame.functionName.startsWith("(")
          ? frame.functionName
          : "(native)"
        : where.startsWith("node:")
          ? "node: internals"
          : where.split("/").slice(0, where.startsWith("@") ? 2 : 1).join("/");
    byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + micros);
  });
}

function print(title: string, entries: Map<string, number>, limit: number): void {
  console.log(title);
  console.log(`${"self ms".padStart(9)}  ${"%".padStart(5)}  function / file`);
  for (const [name, micros] of [...entries].sort((a, b) => b[1] - a[1]).slice(0, limit)) {
    console.log(`${(micros / 1000).toFixed(1).padStart(9)}  ${((micros / totalMicros) * 100).toFixed(1).padStart(5)}  ${name}`);
  }
}

console.log(`${files.length} profile(s), ${(totalMicros / 1000).toFixed(0)} ms profiled, ${samples} samples\n`);
print(`top ${top} functions by self time`, byFunction, top);
console.log("");
print("self time by package / top-level folder", byPackage, 12);
