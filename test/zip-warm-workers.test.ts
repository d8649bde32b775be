import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { inflateRawSync } from "node:zlib";
import { afterEach, describe, expect, it } from "vitest";
import { zipDirectory } from "../src/zip/index.js";
import { WarmWorkers, warmWorkers } from "../src/zip/warm-workers.js";
import { readWithYauzl, zipTempDir } from "./helpers/zip-readers.js";

const REPO = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const lenders: WarmWorkers[] = [];
afterEach(async () => {
  await Promise.all(lenders.splice(0).map((lender) => lender.close()));
});

function lender(idleMs: number): WarmWorkers {
  const made = new WarmWorkers({ idleMs });
  lenders.push(made);
  return made;
}

async function sourceFile(text: string): Promise<string> {
  const root = await zipTempDir();
  const file = path.join(root, "a.ts");
  await writeFile(file, text);
  return file;
}

describe("warm deflate workers", () => {
  it("lends the same pool to builds that overlap or follow each other, and it keeps working", async () => {
    const warm = lender(60_000);
    const first = warm.borrow(1);
    const second = warm.borrow(1);
    expect(second.workers).toBe(first.workers);
    first.release();
    second.release();
    const third = warm.borrow(1);
    expect(third.workers).toBe(first.workers);
    const text = "export const answer = 42;\n".repeat(100);
    const [result] = await third.workers.run([{ absPath: await sourceFile(text), name: "a.ts", sizeBytes: text.length, store: false }], 6);
    third.release();
    if (result === undefined || result instanceof Error) throw result ?? new Error("no result");
    expect(result.deflated).toBe(true);
    expect(inflateRawSync(result.data).toString()).toBe(text);
  });

  it("terminates a pool once it has been idle, and starts a new one for the next build", async () => {
    const warm = lender(1);
    const lease = warm.borrow(1);
    const { workers } = lease;
    lease.release();
    await workers.whenClosed(); // the idle timer fired
    expect(workers.usable).toBe(false);
    const next = warm.borrow(1);
    expect(next.workers).not.toBe(workers);
    expect(next.workers.usable).toBe(true);
    next.release();
  });

  it("cancels the idle timer when borrowed again before it fires", async () => {
    const warm = lender(1);
    const first = warm.borrow(1);
    first.release();
    const again = warm.borrow(1); // same tick: the 1 ms timer cannot have fired
    expect(again.workers).toBe(first.workers);
    const text = "x".repeat(10);
    const [result] = await again.workers.run([{ absPath: await sourceFile(text), name: "a.ts", sizeBytes: 10, store: true }], 6);
    expect(result).not.toBeInstanceOf(Error);
    expect(again.workers.usable).toBe(true);
    again.release();
  });

  it("lends to small jobs only a pool that is warm already, starting none", async () => {
    const warm = lender(60_000);
    expect(warm.borrowIfWarm(1)).toBeUndefined();
    const started = warm.borrow(1);
    started.release();
    const small = warm.borrowIfWarm(1);
    expect(small?.workers).toBe(started.workers);
    small?.release();
    await started.workers.close();
    expect(warm.borrowIfWarm(1)).toBeUndefined();
  });

  it("replaces a pool that can no longer be used", async () => {
    const warm = lender(60_000);
    const lease = warm.borrow(1);
    await lease.workers.close();
    lease.release();
    const next = warm.borrow(1);
    expect(next.workers).not.toBe(lease.workers);
    expect(next.workers.usable).toBe(true);
    next.release();
  });

  it("keeps the workers of zipDirectory warm from one build to the next", async () => {
    const root = await zipTempDir();
    const dir = path.join(root, "project");
    await mkdir(dir);
    for (let index = 0; index < 20; index += 1) await writeFile(path.join(dir, `f${index}.ts`), `export const n = ${index};\n`.repeat(20));
    await zipDirectory(dir, path.join(root, "one.zip"), { workerThreads: 2 });
    const probe = warmWorkers.borrow(2);
    probe.release();
    await zipDirectory(dir, path.join(root, "two.zip"), { workerThreads: 2 });
    const after = warmWorkers.borrow(2);
    after.release();
    expect(after.workers).toBe(probe.workers);
    expect((await readWithYauzl(path.join(root, "two.zip"))).map((entry) => entry.name)).toHaveLength(20);
  });

  it("never keeps a process alive: a host that zipped with workers exits by itself", async () => {
    const root = await zipTempDir();
    const dir = path.join(root, "project");
    await mkdir(dir);
    await writeFile(path.join(dir, "index.ts"), "export {};\n");
    const script = path.join(root, "host.mts");
    await writeFile(
      script,
      `import { zipDirectory } from ${JSON.stringify(path.join(REPO, "src/zip/index.ts"))};
      const { entries } = await zipDirectory(${JSON.stringify(dir)}, ${JSON.stringify(path.join(root, "out.zip"))}, { workerThreads: 2 });
      console.log(entries);`,
    );
    // No close(), no process.exit(): the process ends only if nothing of ours holds the event loop.
    const child = spawn(process.execPath, ["--import", "tsx", script], { cwd: REPO, stdio: ["ignore", "pipe", "inherit"] });
    let stdout = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    const [code] = (await once(child, "exit")) as [number | null];
    expect(code).toBe(0);
    expect(stdout.trim()).toBe("1"); // and not exit code 13: the build was not cut short either
  });
});
