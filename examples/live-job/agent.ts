/**
 * A simulated code-generation agent for the live page, speaking the REST API
 * as a remote agent would: it writes a plan naming 12 files in 3 tasks, then
 * the files one by one with a pause between writes, then completes the job.
 *
 *   LIVE_JOB_URL=http://127.0.0.1:PORT/ LIVE_JOB_TOKEN=... npx tsx examples/live-job/agent.ts [--job ID] [--gap-ms 400]
 *
 * Without `--job`, it creates a job named "Café Übersicht 東京" and prints the
 * page's URL for it. The job's whole history replays on the page, so the page
 * may be opened before, during or after the run.
 */
import { setTimeout as delay } from "node:timers/promises";
import { parseArgs } from "node:util";
import { pathToFileURL } from "node:url";

/** Non-ASCII on purpose: the ZIP's download name needs RFC 5987 `filename*`. */
export const PROJECT_NAME = "Café Übersicht 東京";

/** The plan: 12 files in 3 tasks, written in this order. */
export const PLAN_TASKS: ReadonlyArray<{ name: string; files: readonly string[] }> = [
  { name: "Setup project", files: ["package.json", "tsconfig.json", "README.md", ".gitignore"] },
  {
    name: "Components",
    files: ["src/main.tsx", "src/App.tsx", "src/components/Menu.tsx", "src/components/Order.tsx", "src/styles/app.css"],
  },
  { name: "Tests", files: ["test/App.test.tsx", "test/Menu.test.tsx", "test/Order.test.tsx"] },
];

/** Every planned file, in plan order. */
export const PLANNED_FILES: readonly string[] = PLAN_TASKS.flatMap((task) => task.files);

function contentOf(path: string): string {
  if (path === "package.json") return `${JSON.stringify({ name: "cafe-ubersicht", private: true, type: "module" }, null, 2)}\n`;
  if (path === "README.md") return `# ${PROJECT_NAME}\n\nOrders for a small café, generated file by file.\n`;
  return `// ${path}\n// generated for ${PROJECT_NAME}\nexport {};\n`;
}

export interface AgentOptions {
  /** The host's URL (`http://127.0.0.1:PORT/`); the API is at `api/v1/jobs` below it. */
  url: string;
  /** The agent's bearer token. */
  token: string;
  /** The job to write into. */
  jobId: string;
  /** Pause between two file writes. @default 400 */
  gapMs?: number;
  /** Stops the run between two requests (and aborts the one in flight). */
  signal?: AbortSignal;
}

async function call(options: Pick<AgentOptions, "url" | "token" | "signal">, method: string, route: string, body?: unknown) {
  const response = await fetch(new URL(`api/v1/jobs${route}`, options.url), {
    method,
    headers: { authorization: `Bearer ${options.token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    ...(options.signal === undefined ? {} : { signal: options.signal }),
  });
  const json = (await response.json()) as Record<string, unknown>;
  if (!response.ok) throw new Error(`${method} ${route} answered ${response.status}: ${JSON.stringify(json)}`);
  return json;
}

/** Creates a job for the agent's user; answers its id. */
export async function createJob(options: Pick<AgentOptions, "url" | "token" | "signal">, projectName = PROJECT_NAME): Promise<string> {
  const job = await call(options, "POST", "/create", { project_name: projectName });
  return String(job.job_id);
}

/** Plan, files one by one, complete. Resolves once the job is complete (its ZIP built). */
export async function runAgent(options: AgentOptions): Promise<void> {
  const id = `/${encodeURIComponent(options.jobId)}`;
  const gapMs = options.gapMs ?? 400;
  await call(options, "POST", `${id}/plan`, { tasks: PLAN_TASKS, metadata: { framework: "react" } });
  for (const path of PLANNED_FILES) {
    await delay(gapMs, undefined, options.signal === undefined ? {} : { signal: options.signal });
    await call(options, "POST", `${id}/files`, { path, content: contentOf(path) });
  }
  await call(options, "POST", `${id}/complete`);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values } = parseArgs({ options: { job: { type: "string" }, "gap-ms": { type: "string", default: "400" } } });
  const url = process.env.LIVE_JOB_URL;
  const token = process.env.LIVE_JOB_TOKEN;
  const gapMs = Number(values["gap-ms"]);
  if (url === undefined || token === undefined) {
    console.error("agent: set LIVE_JOB_URL and LIVE_JOB_TOKEN (the host prints both)");
    process.exit(2);
  }
  if (!Number.isSafeInteger(gapMs) || gapMs < 0) {
    console.error(`agent: --gap-ms must be a non-negative integer, got ${values["gap-ms"]}`);
    process.exit(2);
  }
  const jobId = values.job ?? (await createJob({ url, token }));
  console.log(`live page: ${new URL(`?job=${encodeURIComponent(jobId)}`, url).href}`);
  await runAgent({ url, token, jobId, gapMs });
  console.log(`agent: wrote ${PLANNED_FILES.length} files and completed job ${jobId}`);
}
