/**
 * Changes to one path take turns (src/manager/path-turns.ts), and bytes a
 * change in flight frees stay held until it lands. Each race is made to
 * happen: the first change's rename or unlink is held at a gate, two
 * managers on one base path stand for two processes, and the test waits for
 * the events it needs (the gate reached, a refusal), never for time.
 */
import fs from "node:fs/promises";
import path from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { JobStorageManager } from "../src/index.js";
import { filesBelow } from "./fixtures/verify.js";
import { rejection } from "./helpers/rejection.js";
import { openStorage, tempDir } from "./helpers/temp.js";

const LIMIT = 1_000_000;
// Sizes above the 64 KiB up to which writes rename synchronously: the gates below hold
// \`fs.promises\` calls.
const KB = 1000;
const openGates: (() => void)[] = [];

/** Holds the first `fs.promises[op]` call whose path ends with `suffix` until `open()`. */
function gate(op: "rename" | "unlink", suffix: string): { reached: Promise<void>; open: () => void } {
  const real = fs[op].bind(fs) as (...args: string[]) => Promise<void>;
  let reach!: () => void;
  let release!: () => void;
  const reached = new Promise<void>((resolve) => (reach = resolve));
  const released = new Promise<void>((resolve) => (release = resolve));
  let held = false;
  openGates.push(release); // a failing test must not leave a change held for the cleanup to wait on
  vi.spyOn(fs, op).mockImplementation((async (...args: string[]) => {
    const target = String(args.at(-1));
    if (!held && target.endsWith(suffix)) {
      held = true;
      reach();
      await released;
    }
    return real(...args);
  }) as never);
  return { reached, open: release };
}

/** Whether a promise has settled yet, read after the event the test waited for. */
function settledFlag(promise: Promise<unknown>): { readonly settled: boolean } {
  const flag = { settled: false };
  promise.then(
    () => (flag.settled = true),
    () => (flag.settled = true),
  );
  return flag;
}

async function twoManagers(): Promise<{ a: JobStorageManager; b: JobStorageManager; jobId: string }> {
  const basePath = await tempDir("ej-turns-");
  const { storage: a } = await openStorage({ basePath, maxProjectSizeBytes: LIMIT });
  const { storage: b } = await openStorage({ basePath, maxProjectSizeBytes: LIMIT });
  const { jobId } = await a.createJob({ projectName: "turns" });
  return { a, b, jobId };
}

/** The index's files and counts are the disk's; returns the total. */
async function expectIndexIsDisk(storage: JobStorageManager, jobId: string): Promise<number> {
  const filesDir = path.join(storage.basePath, jobId, "files");
  const onDisk = await filesBelow(filesDir);
  const sizes = await Promise.all(onDisk.map(async (file) => (await fs.stat(path.join(filesDir, file))).size));
  const listed = await storage.listFiles(jobId);
  expect(listed.map((file) => [file.path, file.size])).toEqual(onDisk.map((file, i) => [file, sizes[i]]));
  const job = (await storage.getJob(jobId))!;
  const total = sizes.reduce((sum, size) => sum + size, 0);
  expect(job).toMatchObject({ filesCount: onDisk.length, totalSizeBytes: total });
  expect(total).toBeLessThanOrEqual(LIMIT);
  return total;
}

afterEach(() => {
  for (const open of openGates.splice(0)) open();
  vi.restoreAllMocks();
});

describe("changes to one path take turns", () => {
  it("a second write to a path lands after the first, so a slow first rename cannot bring back freed bytes", async () => {
    const { a, b, jobId } = await twoManagers();
    const slow = gate("rename", `${path.sep}files${path.sep}p.txt`);
    const big = a.writeFile(jobId, "p.txt", "B".repeat(800 * KB));
    await slow.reached;

    // Another process overwrites p.txt with a smaller file, then writes q.txt. Without turns,
    // the smaller write would be accounted at once, q.txt would fit, and the big rename
    // landing last would leave 1.3 MB on disk under a limit of 1 MB.
    const small = b.writeFile(jobId, "p.txt", "s".repeat(100 * KB));
    const smallState = settledFlag(small);
    const refused = await rejection(b.writeFile(jobId, "q.txt", "q".repeat(500 * KB)));
    expect(refused.code).toBe("PROJECT_TOO_LARGE");
    expect(smallState.settled).toBe(false); // waiting for its turn

    slow.open();
    await big;
    await small;
    expect(await b.readFile(jobId, "p.txt", "utf8")).toBe("s".repeat(100 * KB));
    expect(await a.readFile(jobId, "p.txt", "utf8")).toBe("s".repeat(100 * KB));
    expect(await expectIndexIsDisk(b, jobId)).toBe(100 * KB);
    // Once both have landed, the room is there.
    await b.writeFile(jobId, "q.txt", "q".repeat(500 * KB));
    expect(await expectIndexIsDisk(a, jobId)).toBe(600 * KB);
  });

  it("writes of one batch wait for the busy path only, and keep batch order on it", async () => {
    const { a, b, jobId } = await twoManagers();
    const slow = gate("rename", `${path.sep}files${path.sep}p.txt`);
    const first = a.writeFile(jobId, "p.txt", "f".repeat(100 * KB));
    await slow.reached;
    const batch = b.writeFiles(jobId, [
      { path: "p.txt", content: "second" },
      { path: "other.txt", content: "free" },
      { path: "p.txt", content: "third" },
    ]);
    // other.txt is not held up by p.txt's turn: it is readable before the gate opens.
    await vi.waitUntil(async () => (await b.listFiles(jobId)).some((file) => file.path === "other.txt"));
    expect(await b.readFile(jobId, "other.txt", "utf8")).toBe("free");
    slow.open();
    await first;
    const result = await batch;
    expect(result).toMatchObject({ total: 3, success: 3, failed: 0 });
    expect(await b.readFile(jobId, "p.txt", "utf8")).toBe("third");
    await expectIndexIsDisk(a, jobId);
  });

  it("a smaller overwrite frees its bytes only once it has landed", async () => {
    const { a, b, jobId } = await twoManagers();
    await a.writeFile(jobId, "p.txt", "B".repeat(800 * KB));
    const slow = gate("rename", `${path.sep}files${path.sep}p.txt`);
    const shrink = a.writeFile(jobId, "p.txt", "s".repeat(100 * KB));
    await slow.reached;
    // If the rename failed, the disk would still hold 800 kB: they are not free yet.
    expect((await rejection(b.writeFile(jobId, "q.txt", "q".repeat(500 * KB)))).code).toBe("PROJECT_TOO_LARGE");
    slow.open();
    await shrink;
    await b.writeFile(jobId, "q.txt", "q".repeat(500 * KB));
    expect(await expectIndexIsDisk(b, jobId)).toBe(600 * KB);
  });

  it("a delete holds the file's bytes until it is gone, and a write to that path waits for it", async () => {
    const { a, b, jobId } = await twoManagers();
    await a.writeFile(jobId, "p.txt", "B".repeat(800 * KB));
    const slow = gate("unlink", `${path.sep}files${path.sep}p.txt`);
    const deletion = a.deleteFile(jobId, "p.txt");
    await slow.reached;
    const rewrite = b.writeFile(jobId, "p.txt", "new");
    const rewriteState = settledFlag(rewrite);
    expect((await rejection(b.writeFile(jobId, "q.txt", "q".repeat(500 * KB)))).code).toBe("PROJECT_TOO_LARGE");
    expect(rewriteState.settled).toBe(false);
    slow.open();
    expect(await deletion).toBe(true);
    await rewrite;
    // The rewrite came after the delete: its file stays, and is counted.
    expect(await a.readFile(jobId, "p.txt", "utf8")).toBe("new");
    await b.writeFile(jobId, "q.txt", "q".repeat(500 * KB));
    expect(await expectIndexIsDisk(a, jobId)).toBe(500 * KB + 3);
  });

  it("a move waits for a write in flight at its source, and moves what that write left", async () => {
    const { a, b, jobId } = await twoManagers();
    await a.writeFile(jobId, "p.txt", "old");
    const slow = gate("rename", `${path.sep}files${path.sep}p.txt`);
    const write = a.writeFile(jobId, "p.txt", "n".repeat(100 * KB));
    await slow.reached;
    const move = b.moveFile(jobId, "p.txt", "moved.txt");
    const moveState = settledFlag(move);
    // The write's own rename is the one held, so the move has not started its own.
    await b.writeFile(jobId, "marker.txt", "m"); // a change b makes after the move began
    expect(moveState.settled).toBe(false);
    slow.open();
    await write;
    expect(await move).toMatchObject({ from: "p.txt", path: "moved.txt", size: 100 * KB });
    expect(await a.readFile(jobId, "moved.txt", "utf8")).toBe("n".repeat(100 * KB));
    expect((await a.listFiles(jobId)).map((file) => file.path).sort()).toEqual(["marker.txt", "moved.txt"]);
    await expectIndexIsDisk(a, jobId);
  });
});
