/**
 * `watch` (SPEC §8): a job's changes in order, resumable by `seq`, across
 * processes on one base path, ending at the terminal status or on abort,
 * and leaving nothing that keeps a process alive.
 */
import { describe, expect, it } from "vitest";
import { isJobStorageError, type JobChange, type JobStorageManager } from "../src/index.js";
import { startChild } from "./fixtures/children.js";
import { openStorage, tempDir } from "./helpers/temp.js";

async function collect(iterable: AsyncIterable<JobChange>, until?: (change: JobChange) => boolean): Promise<JobChange[]> {
  const changes: JobChange[] = [];
  for await (const change of iterable) {
    changes.push(change);
    if (until?.(change)) break;
  }
  return changes;
}

const shape = (change: JobChange): string =>
  [change.type, change.path, change.from, change.status, change.size].filter((part) => part !== undefined).join(" ");

/** A job's whole life: plan, writes, an identical rewrite (no change), a move, a delete, completion. */
async function lifeOfAJob(storage: JobStorageManager, jobId: string): Promise<void> {
  await storage.writePlan(jobId, { tasks: [{ name: "all", files: ["a.ts", "b.ts"] }] });
  await storage.writeFile(jobId, "a.ts", "aa");
  await storage.writeFiles(jobId, [
    { path: "b.ts", content: "bbb" },
    { path: "c.ts", content: "c" },
  ]);
  await storage.writeFile(jobId, "a.ts", "aa"); // unchanged: not a change
  await storage.moveFile(jobId, "c.ts", "lib/c.ts");
  await storage.deleteFile(jobId, "b.ts");
  await storage.completeJob(jobId);
}

const LIFE = [
  "job:status generating",
  "plan:written",
  "file:written a.ts 2",
  "file:written b.ts 3",
  "file:written c.ts 1",
  "file:moved lib/c.ts c.ts 1",
  "file:deleted b.ts",
  "job:status complete",
];

describe("watch", () => {
  it("reports every change of a job in order, once, and ends when its ZIP is ready", async () => {
    const { storage } = await openStorage();
    const { jobId } = await storage.createJob({ projectName: "watched" });
    const watching = collect(storage.watch(jobId));
    await lifeOfAJob(storage, jobId);
    const changes = await watching;
    expect(changes.map((change) => (change.type === "plan:written" ? change.type : shape(change)))).toEqual(LIFE);
    const seqs = changes.map((change) => change.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(new Set(seqs).size).toBe(seqs.length);
    expect(changes.find((change) => change.path === "a.ts")!.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect((await storage.getJob(jobId))!.zipReady).toBe(true);
    // A job that is already complete replays its history and ends.
    expect((await collect(storage.watch(jobId))).map((change) => change.seq)).toEqual(seqs);
  });

  it("sees a commit made while its consumer is busy between two next() calls", async () => {
    const { storage } = await openStorage();
    const { jobId } = await storage.createJob({ projectName: "busy consumer" });
    const iterator = storage.watch(jobId)[Symbol.asyncIterator]();
    expect((await iterator.next()).value).toMatchObject({ type: "job:status", status: "generating" });
    // Its change is committed before writePlan resolves, while nothing waits on the watch.
    await storage.writePlan(jobId, { tasks: [] });
    expect((await iterator.next()).value).toMatchObject({ type: "plan:written" });
    await iterator.return?.();
  });

  it("resumes after `since` with no change lost and none repeated", async () => {
    const { storage } = await openStorage();
    const { jobId } = await storage.createJob({ projectName: "resumed" });
    await lifeOfAJob(storage, jobId);
    const all = await collect(storage.watch(jobId));
    const firstPart = await collect(storage.watch(jobId), (change) => change.type === "file:written" && change.path === "b.ts");
    const rest = await collect(storage.watch(jobId, { since: firstPart.at(-1)!.seq }));
    expect([...firstPart, ...rest]).toEqual(all);
  });

  it("ends when its signal aborts, and when the job fails", async () => {
    const { storage } = await openStorage();
    const { jobId } = await storage.createJob({ projectName: "aborted" });
    const controller = new AbortController();
    const watching = collect(storage.watch(jobId, { signal: controller.signal }));
    await storage.writeFile(jobId, "a.ts", "a");
    controller.abort();
    const seen = await watching;
    expect(seen.length).toBeGreaterThanOrEqual(1);
    expect(seen[0]!.type).toBe("job:status");

    const failing = await storage.createJob({ projectName: "fails" });
    const untilFailed = collect(storage.watch(failing.jobId));
    await storage.failJob(failing.jobId, "gave up");
    expect((await untilFailed).map(shape)).toEqual(["job:status generating", "job:status failed"]);
  });

  it("refuses a bad since and a missing job", async () => {
    const { storage } = await openStorage();
    const { jobId } = await storage.createJob({ projectName: "bad" });
    expect(() => storage.watch(jobId, { since: -1 })).toThrow(expect.objectContaining({ code: "INVALID_INPUT" }));
    let caught: unknown;
    try {
      storage.watch("no-such-job");
    } catch (error) {
      caught = error;
    }
    expect(isJobStorageError(caught, "JOB_NOT_FOUND")).toBe(true);
  });

  it("sees another process's changes on the same base path, each once and in order", async () => {
    const basePath = await tempDir("ej-watch-");
    const { storage } = await openStorage({ basePath });
    const { jobId } = await storage.createJob({ projectName: "across" });
    const paths = Array.from({ length: 12 }, (_, i) => `src/f${i}.ts`);
    const child = startChild("watch-writer", [basePath, jobId, ...paths]);
    await child.waitForLine("ready");
    const watching = collect(storage.watch(jobId));
    child.child.kill("SIGUSR2");
    // A writer that dies early would leave the watch waiting: fail with its output instead.
    const changes = await Promise.race([
      watching,
      child.exited.then(async (result) => {
        if (result.code !== 0) throw new Error(`watch-writer exited ${result.code ?? result.signal}: ${result.stderr}`);
        return watching;
      }),
    ]);
    const exit = await child.exited;
    expect(exit.code, exit.stderr).toBe(0);
    expect(changes.map(shape).map((line) => line.replace(/ \d+$/, ""))).toEqual([
      "job:status generating",
      ...paths.map((p) => `file:written ${p}`),
      `file:deleted ${paths[0]}`,
      `file:moved moved/${paths[1]} ${paths[1]}`,
      "job:status complete",
    ]);
    const seqs = changes.map((change) => change.seq);
    expect(new Set(seqs).size).toBe(seqs.length);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
  }, 60_000);

  it("a process that watches and then aborts exits on its own", async () => {
    const basePath = await tempDir("ej-watch-exit-");
    const child = startChild("watch-abort", [basePath]);
    const exit = await child.exited;
    expect(exit.code, exit.stderr).toBe(0);
    expect(JSON.parse(exit.stdout.trim()) as string[]).toEqual(["job:status", "file:written"]);
  }, 60_000);
});
