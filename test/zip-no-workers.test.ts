import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it, vi } from "vitest";
import { zipDirectory } from "../src/zip/index.js";
import { pythonZipReport, readWithYauzl, zipTempDir } from "./helpers/zip-readers.js";

const attempts = vi.hoisted(() => ({ count: 0 }));

// As under Node's permission model without --allow-worker: creating a worker throws.
vi.mock("node:worker_threads", async (importOriginal) => {
  const actual = await importOriginal<typeof import("node:worker_threads")>();
  class Worker {
    constructor() {
      attempts.count += 1;
      throw Object.assign(new Error("Access to this API has been restricted"), { code: "ERR_ACCESS_DENIED" });
    }
  }
  return { ...actual, default: { ...actual, Worker }, Worker };
});

describe("where worker threads cannot be created", () => {
  it("reads and deflates on the main thread instead", async () => {
    const root = await zipTempDir();
    const dir = path.join(root, "project");
    await mkdir(dir);
    const names = Array.from({ length: 200 }, (_, index) => `f${String(index).padStart(3, "0")}.ts`);
    for (const name of names) await writeFile(path.join(dir, name), `export const name = "${name}";\n`.repeat(30));
    const zipFile = path.join(root, "project.zip");

    const result = await zipDirectory(dir, zipFile, { workerThreads: 2 });

    expect(attempts.count).toBeGreaterThan(0);
    expect(result.entries).toBe(200);
    expect((await pythonZipReport(zipFile)).testzip).toBeNull();
    const entries = await readWithYauzl(zipFile);
    expect(entries.map((entry) => entry.name)).toEqual(names);
    expect(new Set(entries.map((entry) => entry.method))).toEqual(new Set([8]));
    expect(entries[7]!.data.toString()).toBe(`export const name = "${names[7]}";\n`.repeat(30));
  });
});
