/**
 * A planner / writer / fixer run against the storage engine, end to end:
 * plan, a batch of generated files, a fix-up overwrite, completion, and the
 * ZIP read back. `npm run demo` runs it on a fresh temporary base path
 * (or on JOBS_BASE_PATH when set).
 *
 *   npx tsx examples/agent-pipeline.ts [--base-path DIR]
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { JobStorageManager, manualScheduler, type FileInput, type Plan } from "../src/index.js";

const { values } = parseArgs({ options: { "base-path": { type: "string" } } });
const basePath = values["base-path"] ?? process.env.JOBS_BASE_PATH ?? (await fs.mkdtemp(path.join(os.tmpdir(), "ephemeral-jobs-demo-")));
const log = (step: string, detail = ""): void => console.log(`${step.padEnd(10)} ${detail}`);

await using storage = await JobStorageManager.open({
  basePath,
  scheduler: manualScheduler(),
  downloadUrl: (jobId) => `/api/v1/jobs/${jobId}/download`,
});
storage.on("zip:progress", ({ progress }) => {
  if (progress.entries === progress.totalEntries) log("zip", `${progress.entries} entries, ${progress.bytes} bytes read`);
});

// Planner: one job per generated project, and a plan of what to write.
const job = await storage.createJob({ projectName: "my-react-app", userId: "demo-user" });
log("created", `job ${job.jobId} in ${basePath}`);
const plan: Plan = {
  tasks: [
    { name: "Setup project", files: ["package.json", "tsconfig.json", ".gitignore", "plan.json"] },
    { name: "Create components", files: ["src/App.tsx", "src/main.tsx", "src/components/Header.tsx"] },
    { name: "Add styling", files: ["src/styles.css"] },
  ],
  metadata: { framework: "react", language: "typescript" },
};
await storage.writePlan(job.jobId, plan);
log("planned", `${plan.tasks.length} tasks, ${plan.tasks.flatMap((t) => t.files).length} files`);

// Writer: generate every planned file in one batch ("plan.json" is an ordinary generated name).
const generate = (file: string): string =>
  file.endsWith(".json") ? `${JSON.stringify({ name: "my-react-app", file }, null, 2)}\n` : `// ${file}\nexport {};\n`;
const files: FileInput[] = plan.tasks.flatMap((task) => task.files.map((file) => ({ path: file, content: generate(file) })));
const written = await storage.writeFiles(job.jobId, files);
log("written", `${written.success} of ${written.total} files`);

// Fixer: a build error in App.tsx is fixed by overwriting the file.
await storage.writeFile(job.jobId, "src/App.tsx", "export default function App() {\n  return <h1>Hello</h1>;\n}\n");
const fixed = await storage.getJob(job.jobId);
log("fixed", `src/App.tsx rewritten; ${fixed?.filesCount} files, ${fixed?.totalSizeBytes} bytes`);

// Complete: one ZIP, then read it back the way a download would.
const done = await storage.completeJob(job.jobId);
const zip = await storage.openZip(job.jobId);
zip.stream.destroy();
log("complete", `${zip.fileName}, ${done.zipSizeBytes} bytes, download at ${done.downloadUrl}`);

let check = "skipped (no unzip on PATH)";
try {
  const entries = execFileSync("unzip", ["-Z1", zip.path], { encoding: "utf8" }).trim().split("\n");
  const listed = (await storage.listFiles(job.jobId)).map((f) => f.path);
  if (JSON.stringify(entries) !== JSON.stringify(listed)) throw new Error(`ZIP holds ${entries.join(", ")}`);
  execFileSync("unzip", ["-tq", zip.path]);
  check = `unzip -t passed, ${entries.length} entries match the job's files`;
} catch (error) {
  if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
}
log("checked", check);
log("zip at", zip.path);
