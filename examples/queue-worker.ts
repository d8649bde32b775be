/**
 * A queue worker that drives the manager directly, without HTTP: it takes
 * generation requests from a queue (in memory here; BullMQ or SQS in
 * production), writes the plan and the generated files, completes the job
 * into a ZIP, and logs through the manager's events.
 *
 *   npx tsx examples/queue-worker.ts
 *
 * In an application, import from "ephemeral-jobs".
 */
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { JobStorageManager, manualScheduler, type FileInput, type Plan } from "../src/index.js";

/** What the queue carries. */
export interface GenerationRequest {
  userId: string;
  projectName: string;
  plan: Plan;
}

/** Stands in for the Writer agent (an LLM call). */
async function generateFile(filePath: string, projectName: string): Promise<string> {
  if (filePath.endsWith(".json")) return `${JSON.stringify({ name: projectName, private: true }, null, 2)}\n`;
  return `// ${filePath}, generated for ${projectName}\nexport {};\n`;
}

/** Processes one request; a failure marks the job failed instead of losing it. */
export async function processRequest(storage: JobStorageManager, request: GenerationRequest): Promise<string> {
  const job = await storage.createJob({ projectName: request.projectName, userId: request.userId });
  try {
    await storage.writePlan(job.jobId, request.plan);
    const paths = request.plan.tasks.flatMap((task) => task.files);
    const files: FileInput[] = await Promise.all(
      paths.map(async (file) => ({ path: file, content: await generateFile(file, request.projectName) })),
    );
    const written = await storage.writeFiles(job.jobId, files);
    if (written.failed > 0) {
      const reasons = written.results.filter((result) => !result.success).map((result) => `${result.path}: ${result.error?.code}`);
      throw new Error(`${written.failed} file(s) rejected (${reasons.join(", ")})`);
    }
    await storage.completeJob(job.jobId);
  } catch (error) {
    await storage.failJob(job.jobId, error instanceof Error ? error.message : String(error)).catch(() => {});
  }
  return job.jobId;
}

/** Runs `concurrency` workers until the queue is empty. */
export async function drainQueue(storage: JobStorageManager, queue: GenerationRequest[], concurrency = 2): Promise<string[]> {
  const jobIds: string[] = [];
  const worker = async (): Promise<void> => {
    for (let request = queue.shift(); request !== undefined; request = queue.shift()) {
      jobIds.push(await processRequest(storage, request));
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return jobIds;
}

/** Logs the manager's events, one line each. */
export function logEvents(storage: JobStorageManager, log: (line: string) => void = console.log): void {
  storage.on("job:created", ({ jobId, job }) => log(`created   ${jobId} (${job.projectName})`));
  storage.on("job:completed", ({ jobId, job }) => log(`completed ${jobId}: ${job.filesCount} files, ZIP ${job.zipSizeBytes} bytes`));
  storage.on("job:failed", ({ jobId, errorMessage }) => log(`failed    ${jobId}: ${errorMessage}`));
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const basePath = await fs.mkdtemp(path.join(os.tmpdir(), "ephemeral-jobs-worker-"));
  const storage = await JobStorageManager.open({ basePath, scheduler: manualScheduler() });
  try {
    logEvents(storage);
    const setup = { name: "Setup", files: ["package.json", "src/index.ts"] };
    const queue: GenerationRequest[] = [
      { userId: "u1", projectName: "todo-app", plan: { tasks: [setup, { name: "UI", files: ["src/App.tsx"] }] } },
      { userId: "u2", projectName: "blog", plan: { tasks: [setup] } },
      { userId: "u3", projectName: "broken", plan: { tasks: [{ name: "Evil", files: ["CON.txt"] }] } },
    ];
    const jobIds = await drainQueue(storage, queue);
    console.log(`processed ${jobIds.length} requests`);
  } finally {
    await storage.close();
    await fs.rm(basePath, { recursive: true, force: true });
  }
}
