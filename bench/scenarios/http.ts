/**
 * HTTP: the REST handler behind toNodeHandler on node:http in one process,
 * 32 agents in another on loopback (bench/http-load-child.ts, Node's fetch):
 * each creates a job, POSTs 50 files one at a time to `/{id}/files`,
 * completes and downloads. Against the same writes made in-process (32
 * concurrent agents calling writeFile), and, as a reference, the same HTTP
 * load served from a Map (bench/memory-storage.ts): the HTTP layer's own cost.
 */
import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import { createInterface } from "node:readline";
import { JobStorageManager, manualScheduler } from "../../src/index.js";
import { setS, textOf } from "../data.js";
import { BENCH_DIR, REPO_DIR, check, interleave, progress, progressDone, ratio, runChild, summarize, type BenchContext, type ScenarioResult } from "../lib.js";

const AGENTS = 32;
const FILES_PER_AGENT = 50;
const WRITES = AGENTS * FILES_PER_AGENT;
/** Timed rounds per side: each is 1,600 writes, a few seconds. */
const ROUNDS = 3;
/** The targets, client included, on this 2-core machine. */
const TARGET_WRITES_PER_S = 2_000;
const TARGET_P99_MS = 50;

interface LoadResult {
  writes: number;
  bytes: number;
  errors: string[];
  errorCount: number;
  writeMs: number;
  totalMs: number;
  latencies: number[];
}

interface Server {
  url: string;
  child: ChildProcess;
}

/** Starts bench/http-server-child.ts and waits for the port it prints. */
async function startServer(basePath: string, mode: "disk" | "memory"): Promise<Server> {
  const child = spawn(process.execPath, ["--import", "tsx", path.join(BENCH_DIR, "http-server-child.ts"), basePath, mode], {
    cwd: REPO_DIR,
    stdio: ["pipe", "pipe", "inherit"],
  });
  const exited = new Promise<never>((_, reject) => child.once("exit", (code) => reject(new Error(`http-server-child exited with ${code}`))));
  const lines = createInterface({ input: child.stdout });
  const first = new Promise<string>((resolve) => lines.once("line", resolve));
  const { port } = JSON.parse(await Promise.race([first, exited])) as { port: number };
  exited.catch(() => {}); // from here on, an exit is the normal end
  return { url: `http://127.0.0.1:${port}`, child };
}

async function stopServer(server: Server): Promise<void> {
  if (server.child.exitCode !== null) return;
  const exited = new Promise((resolve) => server.child.once("exit", resolve));
  server.child.stdin!.end(); // the child closes when its stdin ends
  await exited;
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
}

export async function httpScenario(ctx: BenchContext): Promise<ScenarioResult> {
  const { settings } = ctx;
  const root = path.join(ctx.root, "http");
  const files = setS(settings.seed).files.map((spec) => ({ path: spec.path, content: textOf(spec) }));
  const disk = await startServer(path.join(root, "served"), "disk");
  const memory = await startServer(path.join(root, "unused"), "memory");
  const storage = await JobStorageManager.open({ basePath: path.join(root, "in-process"), scheduler: manualScheduler() });
  const latencies: number[] = [];
  const errors: string[] = [];
  const load = async (server: Server, keepLatencies: boolean): Promise<number> => {
    const result = await runChild<LoadResult>("http-load-child.ts", [server.url, String(AGENTS), String(FILES_PER_AGENT), String(settings.seed)]);
    errors.push(...result.errors);
    if (result.writes !== WRITES) throw new Error(`HTTP load: ${result.writes} of ${WRITES} writes answered 200; ${result.errors.join("; ")}`);
    if (keepLatencies) latencies.push(...result.latencies);
    return result.writeMs;
  };
  try {
    let jobs = 0;
    const samples = await interleave(
      [
        { name: "HTTP, 32 agents", run: () => load(disk, true) },
        {
          name: "in-process writeFile, 32 agents",
          run: async () => {
            const ids = await Promise.all(
              Array.from({ length: AGENTS }, async () => (await storage.createJob({ projectName: `in-process-${(jobs += 1)}` })).jobId),
            );
            const start = performance.now();
            await Promise.all(
              ids.map(async (jobId) => {
                for (let i = 0; i < FILES_PER_AGENT; i++) {
                  const file = files[i % files.length]!;
                  await storage.writeFile(jobId, i < files.length ? file.path : `extra/${i}/${file.path}`, file.content);
                }
              }),
            );
            return performance.now() - start;
          },
        },
        { name: "HTTP, 32 agents, Map storage", run: () => load(memory, false) },
      ],
      { rounds: ROUNDS, warmup: settings.warmup, onRound: (r) => progress(`http: round ${r + 1}`) },
    );
    progressDone();

    const http = summarize(`HTTP, ${WRITES} writes`, "ours", samples.get("HTTP, 32 agents")!);
    const inProcess = summarize(`in-process, ${WRITES} writes`, "baseline", samples.get("in-process writeFile, 32 agents")!);
    const mapped = summarize(`HTTP on a Map, ${WRITES} writes`, "reference", samples.get("HTTP, 32 agents, Map storage")!);
    const sorted = [...latencies].sort((a, b) => a - b);
    const latency = summarize("HTTP write latency, each", "ours", sorted);
    const p50 = quantile(sorted, 0.5);
    const p99 = quantile(sorted, 0.99);
    const perS = (s: { median: number }) => ((WRITES / s.median) * 1000).toFixed(0);
    return {
      scenario: "http",
      title: `${AGENTS} agents x ${FILES_PER_AGENT} files (set S contents) over loopback HTTP, ${ROUNDS} rounds`,
      notes: [
        `HTTP: ${perS(http)} writes/s, p50 ${p50.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms; in-process: ${perS(inProcess)} writes/s; HTTP on a Map: ${perS(mapped)} writes/s.`,
        "write phase = first write sent to last write answered, all agents; the server and the client are separate processes (client: Node's fetch, one connection per agent).",
        "HTTP on a Map: the same routes served from memory (no disk): what the HTTP layer and the client cost by themselves.",
        `errors: ${errors.length}`,
      ],
      summaries: [http, inProcess, mapped, latency],
      ratios: [ratio(http, inProcess), ratio(mapped, inProcess)],
      checks: [
        check(`HTTP ms per write, ${AGENTS} agents (>= ${TARGET_WRITES_PER_S} writes/s)`, http.median / WRITES, "ms", "<=", 1000 / TARGET_WRITES_PER_S),
        check("HTTP write p99", p99, "ms", "<=", TARGET_P99_MS),
      ],
    };
  } finally {
    await storage.close();
    await Promise.all([stopServer(disk), stopServer(memory)]);
  }
}
