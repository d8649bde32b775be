/**
 * Recovery: a writer process is SIGKILLed in the middle of its batch writes to
 * a job; a live process on the same base path then writes that job at once.
 * The time of that first write (its wait for the dead writer included) is the
 * figure: 0.1's lock directory made it wait up to `lockStaleMs` (10 s).
 */
import { spawn } from "node:child_process";
import { once } from "node:events";
import fs from "node:fs/promises";
import path from "node:path";
import { JobStorageManager, manualScheduler } from "../../src/index.js";
import { BENCH_DIR, REPO_DIR, check, progress, progressDone, summarize, time, type BenchContext, type ScenarioResult } from "../lib.js";

const ROUNDS = 10;

export async function recoveryScenario(ctx: BenchContext): Promise<ScenarioResult> {
  const basePath = path.join(ctx.root, "recovery");
  await fs.mkdir(basePath, { recursive: true });
  const storage = await JobStorageManager.open({ basePath, scheduler: manualScheduler() });
  const samples: number[] = [];
  try {
    const { jobId } = await storage.createJob({ projectName: "recovery" });
    for (let round = 0; round < ROUNDS; round += 1) {
      progress(`recovery: round ${round + 1}`);
      const child = spawn(process.execPath, ["--import", "tsx", path.join(BENCH_DIR, "kill-writer-child.ts"), basePath, jobId], {
        cwd: REPO_DIR,
        stdio: ["ignore", "pipe", "inherit"],
      });
      let out = "";
      child.stdout.setEncoding("utf8");
      await new Promise<void>((resolve, reject) => {
        child.stdout.on("data", (chunk: string) => {
          out += chunk;
          if (out.includes("writing")) resolve();
        });
        child.once("exit", (code) => reject(new Error(`kill-writer-child exited ${code} before writing`)));
      });
      // A few milliseconds into its second batch: most kills land between its intents and their outcome.
      await new Promise((resolve) => setTimeout(resolve, 3 + (round % 5)));
      child.kill("SIGKILL");
      await once(child, "exit");
      samples.push(await time(() => storage.writeFile(jobId, "src/part0/file0.ts", `export const after = ${round};\n`), "first-write"));
    }
    progressDone();
    const job = (await storage.getJob(jobId))!;
    const listed = await storage.listFiles(jobId);
    const exact = job.filesCount === listed.length && job.totalSizeBytes === listed.reduce((sum, file) => sum + file.size, 0);
    const first = summarize("first writeFile after the writer's SIGKILL", "ours", samples);
    return {
      scenario: "recovery",
      title: `${ROUNDS} rounds: a child writing 40-file batches is SIGKILLed mid-batch; this process then writes the same job`,
      notes: [
        "the live process was open the whole time; the figure includes settling the dead writer's intents (look at the disk, hash, recount).",
        `counts after the last round ${exact ? "equal" : "DO NOT equal"} the listed files (${job.filesCount} files, ${job.totalSizeBytes} bytes).`,
      ],
      summaries: [first],
      ratios: [],
      checks: [check("first write after SIGKILL (max of rounds)", first.max, "ms", "<=", 50)],
    };
  } finally {
    await storage.close();
  }
}
