/**
 * `ephemeral-jobs/testing`: a manager on a fresh temporary base path whose
 * close() (and `await using`) also removes that path.
 */
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { createTestStorage } from "../src/testing/index.js";

const exists = (dir: string): Promise<boolean> => fs.stat(dir).then(
  () => true,
  () => false,
);

describe("createTestStorage", () => {
  it("opens a manager on a fresh base path and removes it on close, once", async () => {
    const storage = await createTestStorage({ expiryHours: 2 });
    expect(storage.expiryHours).toBe(2);
    expect(storage.basePath.startsWith(os.tmpdir())).toBe(true);
    const { jobId } = await storage.createJob({ projectName: "t" });
    await storage.writeFile(jobId, "a.txt", "a");
    expect(await exists(storage.basePath)).toBe(true);
    await storage.close();
    expect(await exists(storage.basePath)).toBe(false);
    await storage.close(); // idempotent
    await expect(storage.createJob({ projectName: "late" })).rejects.toMatchObject({ code: "INVALID_STATE" });
  });

  it("removes its base path at the end of an `await using` scope", async () => {
    let basePath = "";
    {
      await using storage = await createTestStorage();
      basePath = storage.basePath;
      await storage.createJob({ projectName: "scoped" });
    }
    expect(basePath).not.toBe("");
    expect(await exists(basePath)).toBe(false);
  });

  it("leaves no directory behind when the options are refused", async () => {
    // A private TMPDIR (this test file runs in its own process), so other files' storages do not count.
    const privateTmp = await fs.mkdtemp(path.join(os.tmpdir(), "ej-private-tmp-"));
    const saved = process.env.TMPDIR;
    process.env.TMPDIR = privateTmp;
    try {
      await expect(createTestStorage({ expiryHours: -1 })).rejects.toMatchObject({ code: "INVALID_INPUT" });
      expect(await fs.readdir(privateTmp)).toEqual([]);
      const storage = await createTestStorage();
      expect((await fs.readdir(privateTmp)).length).toBe(1);
      await storage.close();
      expect(await fs.readdir(privateTmp)).toEqual([]);
    } finally {
      if (saved === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = saved;
      await fs.rm(privateTmp, { recursive: true, force: true });
    }
  });
});
