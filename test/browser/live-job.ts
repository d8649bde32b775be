/**
 * `npm run test:browser`: the live page (examples/live-job/) in a real
 * Chromium, driven by playwright-core. Starts the host on 127.0.0.1 port 0,
 * creates a job, opens its page, starts the simulated agent once the page's
 * event stream is open, and checks what a person would see: the file list
 * growing file by file to every planned file, the progress bar reaching 100%,
 * the Download button appearing only at the end, and a download named after
 * the (non-ASCII) project whose ZIP passes `unzip -t` and holds exactly the
 * planned files. Halfway, it cuts the page's connections (the browser reaches
 * the host through a TCP pass-through of the test's), and checks the page
 * reconnects and resumes after the last change it saw, missing nothing and
 * seeing nothing twice.
 *
 * Needs Debian's `chromium` (`apt-get install -y chromium`, or CHROMIUM=path)
 * and `unzip`. Not part of `npm test`. Saves screenshots under
 * LIVE_JOB_ARTIFACTS (default: a new temporary directory), whose path it
 * prints. Ends with `N passed, N failed`; exits non-zero on any failure.
 */
import assert from "node:assert/strict";
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { access, mkdir, mkdtemp, rm } from "node:fs/promises";
import { createConnection, createServer, type AddressInfo, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { chromium, type Browser, type Page } from "playwright-core";
import { PLANNED_FILES, PROJECT_NAME, createJob } from "../../examples/live-job/agent.js";
import { SESSION_COOKIE } from "../../examples/live-job/server.js";

const ROOT = resolve(fileURLToPath(new URL("../..", import.meta.url)));
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
/** The whole run, browser start to last check; past it everything is killed. */
const RUN_TIMEOUT_MS = 120_000;
/** Any single wait on the page or a process. */
const STEP_TIMEOUT_MS = 30_000;
/**
 * Between two of the agent's writes: long enough for the page to show each file
 * on its own, and for the run (about 5 s) to outlast the page's 2 s reconnect.
 */
const AGENT_GAP_MS = 400;

const execFileAsync = promisify(execFile);
/** `EventSource.CLOSED`. */
const EVENT_SOURCE_CLOSED = 2;

// ------------------------------------------------------------------ harness

let passed = 0;
let failed = 0;

async function step<T>(name: string, run: () => Promise<T>): Promise<T> {
  try {
    const value = await run();
    passed++;
    console.log(`ok   ${name}`);
    return value;
  } catch (error) {
    failed++;
    console.log(`FAIL ${name}`);
    console.log(error instanceof Error ? (error.stack ?? error.message) : error);
    throw new StepFailed(name);
  }
}

class StepFailed extends Error {}

const children: ChildProcess[] = [];
/** Other things to close at the end, whatever happened. */
const closers: Array<() => Promise<void>> = [];

/** Starts `node --import tsx <script>` from the repository root; its stderr is shown. */
function startScript(script: string, args: string[], env: NodeJS.ProcessEnv): ChildProcess {
  const child = spawn(process.execPath, ["--import", "tsx", script, ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "inherit"],
  });
  children.push(child);
  return child;
}

/** Resolves with the first stdout line matching `pattern`; rejects if the process exits or the time runs out. */
async function lineOf(child: ChildProcess, pattern: RegExp, what: string): Promise<RegExpExecArray> {
  const lines = createInterface({ input: child.stdout! });
  const signal = AbortSignal.timeout(STEP_TIMEOUT_MS);
  try {
    return await new Promise<RegExpExecArray>((resolvePromise, reject) => {
      lines.on("line", (line) => {
        const match = pattern.exec(line);
        if (match !== null) resolvePromise(match);
      });
      child.once("exit", (code, sig) => reject(new Error(`${what} exited (${code ?? sig}) before printing ${pattern}`)));
      signal.addEventListener("abort", () => reject(new Error(`${what} printed no ${pattern} within ${STEP_TIMEOUT_MS} ms`)));
    });
  } finally {
    lines.close();
  }
}

/** Resolves with the exit code (null when killed by a signal); rejects past the step timeout. */
async function exitOf(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
  const [code] = (await once(child, "exit", { signal: AbortSignal.timeout(STEP_TIMEOUT_MS) })) as [number | null];
  return code;
}

/** SIGTERM, then SIGKILL if it is still there after 5 s. */
async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, "exit");
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
  await exited;
  clearTimeout(timer);
}

/**
 * A TCP pass-through to the host for the browser, so the test can drop the
 * page's connections as a network blip would, without touching the host.
 */
async function startPassThrough(target: URL): Promise<{ url: string; cut(): number; close(): Promise<void> }> {
  const open = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = createConnection({ host: target.hostname, port: Number(target.port) });
    for (const [from, to] of [
      [client, upstream],
      [upstream, client],
    ] as const) {
      open.add(from);
      from.pipe(to);
      from.on("error", () => to.destroy());
      from.on("close", () => {
        open.delete(from);
        to.destroy();
      });
    }
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const cut = (): number => {
    const count = open.size;
    for (const socket of open) socket.destroy();
    return count;
  };
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    cut,
    async close() {
      const closed = once(server, "close");
      server.close();
      cut();
      await closed;
    },
  };
}

// ------------------------------------------------------------- page probes

/** What the page showed over time, recorded inside the page by MutationObservers. */
interface Recorded {
  /** Each new length of the file list, with whether the Download button was hidden then. */
  files: Array<{ count: number; downloadHidden: boolean }>;
  /** Each value the progress bar took. */
  progress: number[];
  /** The `seq` of every event-stream message the page received, over all its connections. */
  seqs: number[];
  /** The page's EventSource objects (not serializable: read them inside the page). */
  sources?: EventSource[];
}

/** Installed before the page's own script runs. */
function recordPage(): void {
  const recorded: Recorded = { files: [], progress: [], seqs: [], sources: [] };
  (window as unknown as { recorded: Recorded }).recorded = recorded;
  const NativeEventSource = window.EventSource;
  window.EventSource = class extends NativeEventSource {
    constructor(url: string | URL, init?: EventSourceInit) {
      super(url, init);
      recorded.sources!.push(this);
      this.addEventListener("message", (event) => recorded.seqs.push((JSON.parse(event.data as string) as { seq: number }).seq));
    }
  };
  document.addEventListener("DOMContentLoaded", () => {
    const list = document.getElementById("files")!;
    const bar = document.getElementById("progress-bar")!;
    const download = document.getElementById("download")!;
    new MutationObserver(() => {
      const count = list.children.length;
      if (recorded.files.at(-1)?.count !== count) recorded.files.push({ count, downloadHidden: download.hidden });
    }).observe(list, { childList: true });
    new MutationObserver(() => recorded.progress.push(Number(bar.getAttribute("value")))).observe(bar, {
      attributes: true,
      attributeFilter: ["value"],
    });
  });
}

async function recorded(page: Page): Promise<Recorded> {
  return page.evaluate(() => {
    const { files, progress, seqs } = (window as unknown as { recorded: Recorded }).recorded;
    return { files, progress, seqs };
  });
}

/** Waits for `data-state` to become `state`; fails at once, with the page's message, if it becomes "error" or "failed". */
async function waitForState(page: Page, state: string): Promise<void> {
  const handle = await page.waitForFunction(
    (wanted) => {
      const now = document.body.dataset.state;
      return now === wanted || now === "error" || now === "failed" ? now : false;
    },
    state,
    { timeout: STEP_TIMEOUT_MS },
  );
  const reached = await handle.jsonValue();
  if (reached !== state) throw new Error(`page state "${reached}", not "${state}": ${await page.locator("#message").textContent()}`);
}

// -------------------------------------------------------------------- main

async function main(): Promise<void> {
  try {
    await access(CHROMIUM);
  } catch {
    throw new Error(`${CHROMIUM} not found: apt-get update && apt-get install -y chromium (or set CHROMIUM=path)`);
  }
  const work = await mkdtemp(join(tmpdir(), "live-job-test-"));
  const artifacts = process.env.LIVE_JOB_ARTIFACTS ?? (await mkdtemp(join(tmpdir(), "live-job-artifacts-")));
  await mkdir(artifacts, { recursive: true });
  console.log(`artifacts: ${artifacts}`);
  const token = randomBytes(18).toString("base64url");
  let browser: Browser | undefined;
  try {
    const host = startScript("examples/live-job/server.ts", [], {
      PORT: "0",
      HOST: "127.0.0.1",
      JOBS_BASE_PATH: join(work, "jobs"),
      LIVE_JOB_TOKEN: token,
    });
    const url = await step("the host starts on 127.0.0.1 and prints its URL", async () => {
      const [, printed] = await lineOf(host, /^live page: (http:\/\/127\.0\.0\.1:\d+\/)$/, "the host");
      return printed!;
    });

    const jobId = await step("the agent's token creates a job", () => createJob({ url, token }));
    const passThrough = await startPassThrough(new URL(url));
    closers.push(() => passThrough.close());

    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: STEP_TIMEOUT_MS });
    const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 900, height: 1000 } });
    context.setDefaultTimeout(STEP_TIMEOUT_MS);
    const page = await context.newPage();
    const pageErrors: string[] = [];
    page.on("pageerror", (error) => pageErrors.push(error.message));
    page.on("console", (message) => {
      if (message.type() === "error") pageErrors.push(`${message.text()} (${message.location().url})`);
    });
    await page.addInitScript(recordPage);

    await step("the page opens the job's event stream (cookie auth, no Authorization header)", async () => {
      await page.goto(`${passThrough.url}?job=${encodeURIComponent(jobId)}`);
      await waitForState(page, "live");
      assert.equal(await page.locator("#project").textContent(), PROJECT_NAME);
      assert.equal(await page.locator("#files li").count(), 0);
      assert.equal(await page.locator("#download").isVisible(), false);
    });

    const agent = startScript("examples/live-job/agent.ts", ["--job", jobId, "--gap-ms", String(AGENT_GAP_MS)], {
      LIVE_JOB_URL: url,
      LIVE_JOB_TOKEN: token,
    });

    await step("the file list grows while the agent writes", async () => {
      await page.waitForFunction(() => document.querySelectorAll("#files li").length >= 3, undefined, { timeout: STEP_TIMEOUT_MS });
      await page.screenshot({ path: join(artifacts, "live-job-running.png"), fullPage: true });
      const shown = (await recorded(page)).files;
      // Halfway through, the Download button is not there yet.
      assert.ok(shown.every((entry) => entry.downloadHidden), `download visible mid-run: ${JSON.stringify(shown)}`);
    });

    await step("a dropped connection: the page shows it, reconnects and resumes", async () => {
      const before = pageErrors.length;
      assert.ok(passThrough.cut() > 0, "the page had no open connection to cut");
      await waitForState(page, "reconnecting");
      await waitForState(page, "live"); // EventSource retries after the stream's `retry: 2000`
      // Chromium logs the cut requests themselves (the event stream's ERR_INCOMPLETE_CHUNKED_ENCODING,
      // a progress fetch in flight): those, and only those, are expected.
      const cut = pageErrors.splice(before);
      assert.ok(
        cut.every((error) => error.includes(`/api/v1/jobs/${jobId}/`)),
        `errors other than the cut requests: ${JSON.stringify(cut)}`,
      );
    });

    await step("the list reaches every planned file, in the order they were written", async () => {
      await page.waitForFunction((count) => document.querySelectorAll("#files li").length === count, PLANNED_FILES.length);
      const paths = await page.locator("#files li").evaluateAll((items) => items.map((item) => (item as HTMLElement).dataset.path));
      assert.deepEqual(paths, PLANNED_FILES);
      // The browser dispatches each SSE message as a task of its own, and the
      // agent waits between writes, so the page showed every length from 1 to 12.
      const counts = (await recorded(page)).files.map((entry) => entry.count);
      assert.deepEqual(counts, PLANNED_FILES.map((_, index) => index + 1));
    });

    await step("the progress bar reaches 100% (value and text), rising on the way", async () => {
      await page.waitForFunction(() => (document.getElementById("progress-bar") as HTMLProgressElement).value === 100);
      const text = await page.locator("#progress-text").textContent();
      assert.equal(text, `${PLANNED_FILES.length} of ${PLANNED_FILES.length} files · 100%`);
      const values = (await recorded(page)).progress;
      assert.ok(values.some((value) => value > 0 && value < 100), `no value between 0 and 100 in ${JSON.stringify(values)}`);
      for (let i = 1; i < values.length; i++) assert.ok(values[i]! >= values[i - 1]!, `progress went down: ${JSON.stringify(values)}`);
      const tasks = await page.locator("#tasks li").allTextContents();
      assert.deepEqual(tasks, ["Setup project 4/4", "Components 5/5", "Tests 3/3"]);
    });

    await step("the agent completes the job and exits 0", async () => {
      assert.equal(await exitOf(agent), 0);
    });

    await step("the Download button appears once the job is complete", async () => {
      await page.locator("#download").waitFor({ state: "visible" });
      await waitForState(page, "complete");
      assert.equal((await page.locator("#download").textContent())?.trim(), "Download ZIP");
      assert.equal(await page.locator("#status").textContent(), "complete");
      // The page closed its stream at the terminal status (an open one would reconnect forever).
      const states = await page.evaluate(() => (window as unknown as { recorded: Recorded }).recorded.sources!.map((source) => source.readyState));
      assert.deepEqual(states, [EVENT_SOURCE_CLOSED]);
      await page.screenshot({ path: join(artifacts, "live-job.png"), fullPage: true });
    });

    const zipPath = join(work, "download.zip");
    await step("clicking it downloads the ZIP under the project's non-ASCII name", async () => {
      const [download] = await Promise.all([page.waitForEvent("download"), page.locator("#download").click()]);
      assert.equal(download.suggestedFilename(), `${PROJECT_NAME}.zip`);
      await download.saveAs(zipPath);
      assert.equal(await download.failure(), null);
    });

    await step("the ZIP passes unzip -t and holds exactly the planned files", async () => {
      await execFileAsync("unzip", ["-t", zipPath]); // rejects on a non-zero exit
      const { stdout } = await execFileAsync("unzip", ["-Z1", zipPath]);
      const names = stdout.split("\n").filter((name) => name !== "" && !name.endsWith("/"));
      assert.deepEqual(names.sort(), [...PLANNED_FILES].sort());
    });

    await step("across the reconnect, every change arrived exactly once, in order", async () => {
      const { seqs } = await recorded(page);
      for (let i = 1; i < seqs.length; i++) assert.ok(seqs[i]! > seqs[i - 1]!, `seq ${seqs[i]} after ${seqs[i - 1]}: ${JSON.stringify(seqs)}`);
      // plan, 12 files, then the statuses up to "complete": at least 14 changes.
      assert.ok(seqs.length >= PLANNED_FILES.length + 2, `only ${seqs.length} messages: ${JSON.stringify(seqs)}`);
    });

    await step("the session cookie is HttpOnly and SameSite=Strict", async () => {
      const cookies = await context.cookies(passThrough.url);
      assert.equal(cookies.length, 1, JSON.stringify(cookies));
      assert.equal(cookies[0]!.name, SESSION_COOKIE);
      assert.equal(cookies[0]!.httpOnly, true);
      assert.equal(cookies[0]!.sameSite, "Strict");
    });

    await step("without token or cookie the API answers 401; the host serves only the page's files, only to GET", async () => {
      const events = await fetch(`${url}api/v1/jobs/${encodeURIComponent(jobId)}/events`);
      assert.equal(events.status, 401);
      await events.body?.cancel();
      for (const other of ["server.ts", "agent.ts", "%2e%2e/package.json", "..%2fpackage.json"]) {
        const response = await fetch(`${url}${other}`);
        assert.equal(response.status, 404, other);
        await response.body?.cancel();
      }
      const post = await fetch(url, { method: "POST" });
      assert.equal(post.status, 405);
      assert.equal(post.headers.get("allow"), "GET, HEAD");
      await post.body?.cancel();
    });

    await step("the page logged no other error", async () => {
      assert.deepEqual(pageErrors, []);
    });

    await step("the host stops on SIGTERM", async () => {
      host.kill("SIGTERM");
      assert.equal(await exitOf(host), 0);
    });
  } finally {
    await browser?.close().catch(() => undefined);
    for (const close of closers) await close().catch(() => undefined);
    await Promise.all(children.map(stop));
    await rm(work, { recursive: true, force: true });
  }
}

const watchdog = setTimeout(() => {
  console.log(`FAIL the run took more than ${RUN_TIMEOUT_MS} ms`);
  for (const child of children) child.kill("SIGKILL");
  console.log(`${passed} passed, ${failed + 1} failed`);
  process.exit(1);
}, RUN_TIMEOUT_MS);
watchdog.unref();

try {
  await main();
} catch (error) {
  if (!(error instanceof StepFailed)) {
    failed++;
    console.log(`FAIL ${error instanceof Error ? error.message : String(error)}`);
  }
}
clearTimeout(watchdog);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
