/**
 * A full disk (SPEC §2, "Clear errors, nothing lost"): a real, small tmpfs is
 * filled to the last byte (or the last inode), and every operation must fail
 * with STORAGE_FULL while everything stored before stays intact, with no
 * temporary file left behind; once space is freed the same jobs carry on.
 *
 * Mounting needs root (or CAP_SYS_ADMIN). Where a mount is refused the tests
 * are skipped at runtime, saying why.
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { JobStorageManager, manualScheduler, zipDirectory } from "../src/index.js";
import { makeContent } from "./fixtures/content.js";
import { filesBelow, readJobFromDisk, unzipTest, zipFileEntries } from "./fixtures/verify.js";
import { rejection } from "./helpers/rejection.js";

const execFileAsync = promisify(execFile);

async function mount(dir: string, options: string): Promise<void> {
  await execFileAsync("mount", ["-t", "tmpfs", "-o", options, "tmpfs", dir]);
}

async function unmount(dir: string): Promise<void> {
  await execFileAsync("umount", ["-l", dir]);
}

/** Tries a real tmpfs mount once, at collection time, so the tests can be skipped with the reason. */
async function probeMount(): Promise<{ ok: true } | { ok: false; reason: string }> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), "ej-mount-probe-"));
  try {
    await mount(dir, "size=64k");
    await unmount(dir);
    return { ok: true };
  } catch (error) {
    const { stderr, message } = error as { stderr?: string; message: string };
    return { ok: false, reason: (stderr ?? "").trim() || message };
  } finally {
    await fs.rmdir(dir).catch(() => {});
  }
}

const probe = await probeMount();
const canMount = probe.ok;
if (!probe.ok) {
  console.warn(`storage-full tests skipped: cannot mount a tmpfs here (needs root or CAP_SYS_ADMIN): ${probe.reason}`);
}


function isNoSpace(error: unknown): boolean {
  return (error as NodeJS.ErrnoException).code === "ENOSPC";
}

/**
 * Fills the file system of `dir` to the last block: big files while more than
 * `smallBytes` is free, then one-byte files (one page each) until ENOSPC. The
 * small fillers come last in the returned list, so popping one frees one page.
 */
async function fillBlocks(dir: string, smallBytes = 512 * 1024, prefix = "fill"): Promise<string[]> {
  const fillers: string[] = [];
  for (let i = 0; i < 64; i += 1) {
    const { bavail, bsize } = await fs.statfs(dir);
    if (bavail * bsize <= smallBytes) break;
    const file = path.join(dir, `${prefix}-big-${i}`);
    fillers.push(file);
    await fs.writeFile(file, Buffer.alloc(Math.min(256 * 1024, bavail * bsize - smallBytes), 0x61));
  }
  for (let i = 0; i < 1024; i += 1) {
    const file = path.join(dir, `${prefix}-small-${i}`);
    try {
      await fs.writeFile(file, "x");
      fillers.push(file);
    } catch (error) {
      if (!isNoSpace(error)) throw error;
      await fs.rm(file, { force: true });
      return fillers;
    }
  }
  throw new Error("the disk never filled up");
}

/** Uses up every inode of the file system of `dir` with empty files. */
async function fillInodes(dir: string, prefix = "inode"): Promise<string[]> {
  const fillers: string[] = [];
  for (let i = 0; i < 10_000; i += 1) {
    const file = path.join(dir, `${prefix}-${i}`);
    try {
      await fs.writeFile(file, "");
      fillers.push(file);
    } catch (error) {
      if (!isNoSpace(error)) throw error;
      return fillers;
    }
  }
  throw new Error("the inodes never ran out");
}

/** Temporary files anywhere they could be left: job tmp/ directories, `*.tmp` at the base, `.tmp/`. */
async function temporaryLeftovers(basePath: string): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await fs.readdir(basePath, { withFileTypes: true })) {
    if (entry.name === ".tmp") found.push(...(await fs.readdir(path.join(basePath, ".tmp"))).map((n) => `.tmp/${n}`));
    else if (entry.isDirectory()) found.push(...(await filesBelow(path.join(basePath, entry.name, "tmp"))).map((n) => `${entry.name}/tmp/${n}`));
    else if (entry.name.endsWith(".tmp")) found.push(entry.name);
  }
  return found;
}

describe("a full disk", () => {
  let parent = "";
  // Two small file systems: one whose blocks run out, one whose inodes run out.
  // huge=never: space is taken one page at a time, so freeing N one-byte fillers frees exactly N pages.
  const mounts = { blocks: { dir: "", options: "size=2m,huge=never" }, inodes: { dir: "", options: "size=4m,nr_inodes=64" } };

  beforeAll(async () => {
    if (!canMount) return;
    parent = await fs.mkdtemp(path.join(os.tmpdir(), "ej-full-"));
    for (const [name, m] of Object.entries(mounts)) {
      m.dir = path.join(parent, name);
      await fs.mkdir(m.dir);
      await mount(m.dir, m.options);
    }
  });

  afterAll(async () => {
    if (parent === "") return;
    for (const m of Object.values(mounts)) if (m.dir !== "") await unmount(m.dir).catch(() => {});
    await fs.rm(parent, { recursive: true, force: true });
  });

  it.skipIf(!canMount)("is STORAGE_FULL for every write, keeps what was stored, and recovers once space is freed", async () => {
    const mountPoint = mounts.blocks.dir;
    const basePath = path.join(mountPoint, "jobs");
    const fillerDir = path.join(mountPoint, "filler");
    await fs.mkdir(fillerDir);
    const storage = await JobStorageManager.open({ basePath, scheduler: manualScheduler() });
    try {
      // Stored before the disk fills up.
      const a = await storage.createJob({ projectName: "a" });
      const storedA = new Map<string, Buffer>();
      for (let i = 0; i < 8; i += 1) storedA.set(`src/file${i}.ts`, makeContent(`src/file${i}.ts@a`, 20_000 + i));
      expect((await storage.writeFiles(a.jobId, [...storedA].map(([p, content]) => ({ path: p, content })))).failed).toBe(0);
      const plan = { tasks: [{ name: "build", files: [...storedA.keys()] }] };
      await storage.writePlan(a.jobId, plan);
      // Job b holds incompressible data, so its ZIP needs about as much space again.
      const b = await storage.createJob({ projectName: "b" });
      const storedB = new Map<string, Buffer>();
      for (let i = 0; i < 3; i += 1) storedB.set(`assets/blob${i}.bin`, randomBytes(100_000));
      expect((await storage.writeFiles(b.jobId, [...storedB].map(([p, content]) => ({ path: p, content })))).failed).toBe(0);

      // The size b's ZIP will have, from the same files zipped off the small disk.
      const probeZip = path.join(parent, "probe.zip");
      const zipBytesOfB = (await zipDirectory(path.join(basePath, b.jobId, "files"), probeZip)).sizeBytes;
      await fs.rm(probeZip);

      const fillers = await fillBlocks(fillerDir);
      expect((await fs.statfs(mountPoint)).bavail).toBe(0);

      // writeFile: a new file, and an overwrite of a stored one.
      expect((await rejection(storage.writeFile(a.jobId, "src/new.ts", makeContent("new", 5000)))).code).toBe("STORAGE_FULL");
      expect((await rejection(storage.writeFile(a.jobId, "src/file0.ts", makeContent("over", 9000)))).code).toBe("STORAGE_FULL");
      // A batch reports STORAGE_FULL per entry (an empty file and a new directory included).
      const batch = await storage.writeFiles(a.jobId, [
        { path: "src/file1.ts", content: makeContent("over", 100) },
        { path: "deep/new/dir/x.ts", content: "export {}" },
        { path: "empty.txt", content: "" },
      ]);
      // An empty file takes an inode and no block, so it is stored, and counted, even here
      // (the 0.1 format failed it: its job.json.next needed a block).
      expect(batch).toMatchObject({ total: 3, success: 1, failed: 2 });
      expect(batch.results.map((entry) => entry.error?.code)).toEqual(["STORAGE_FULL", "STORAGE_FULL", undefined]);
      expect(await storage.readFile(a.jobId, "empty.txt", "utf8")).toBe("");
      expect(await storage.deleteFile(a.jobId, "empty.txt")).toBe(true);
      // The plan, a new job, and the completion of a job.
      expect((await rejection(storage.writePlan(a.jobId, { tasks: [{ name: "other", files: [] }] }))).code).toBe("STORAGE_FULL");
      expect((await rejection(storage.createJob({ projectName: "c" }))).code).toBe("STORAGE_FULL");
      expect((await rejection(storage.completeJob(b.jobId))).code).toBe("STORAGE_FULL");
      expect((await storage.getJob(b.jobId))!.status).toBe("generating");

      // Room for the metadata but not for the ZIP: the ZIP build itself hits the full disk.
      const pagesOfZip = Math.ceil(zipBytesOfB / (await fs.statfs(mountPoint)).bsize);
      await fs.rm(fillers.pop()!);
      await fs.rm(fillers.pop()!);
      expect((await rejection(storage.completeJob(b.jobId))).code).toBe("STORAGE_FULL");
      expect(await storage.getJob(b.jobId)).toMatchObject({ status: "complete", zipReady: false });
      expect((await rejection(storage.openZip(b.jobId))).code).toBe("STORAGE_FULL");
      expect(await fs.readdir(basePath)).not.toContain(`${b.jobId}.zip`);
      expect(await temporaryLeftovers(basePath)).toEqual([]);
      // Room for the ZIP to the last page, none left for the metadata that says it is ready:
      // the ZIP does not stay behind, unaccounted for.
      for (let i = 2; i < pagesOfZip; i += 1) await fs.rm(fillers.pop()!);
      expect((await fs.statfs(mountPoint)).bavail).toBe(pagesOfZip);
      expect((await rejection(storage.completeJob(b.jobId))).code).toBe("STORAGE_FULL");
      expect(await storage.getJob(b.jobId)).toMatchObject({ status: "complete", zipReady: false });
      expect(await fs.readdir(basePath)).not.toContain(`${b.jobId}.zip`);
      expect((await fs.statfs(mountPoint)).bavail).toBe(pagesOfZip);
      fillers.push(...(await fillBlocks(fillerDir, 0, "refill"))); // full again

      // Everything stored before is intact, and the counts still match the disk.
      const checkIntact = async (): Promise<void> => {
        for (const [p, content] of storedA) expect((await storage.readFile(a.jobId, p)).equals(content), p).toBe(true);
        for (const [p, content] of storedB) expect((await storage.readFile(b.jobId, p)).equals(content), p).toBe(true);
        expect(await storage.readPlan(a.jobId)).toEqual(plan);
        for (const jobId of [a.jobId, b.jobId]) {
          const disk = await readJobFromDisk(storage, jobId);
          expect(await storage.getJob(jobId)).toMatchObject({ filesCount: disk.filesCount, totalSizeBytes: disk.totalSizeBytes });
        }
        expect((await storage.listFiles(a.jobId)).map((f) => f.path)).toEqual([...storedA.keys()].sort());
        expect((await storage.listJobs()).map((job) => job.jobId).sort()).toEqual([a.jobId, b.jobId].sort());
      };
      await checkIntact();
      expect(await temporaryLeftovers(basePath)).toEqual([]);
      expect(await fs.readdir(basePath)).not.toContain(`${b.jobId}.zip`);

      // Space freed: the same jobs take writes again and complete with valid ZIPs.
      for (const filler of fillers) await fs.rm(filler);
      await storage.writeFile(a.jobId, "src/new.ts", makeContent("src/new.ts@a", 5000));
      expect((await storage.writeFiles(a.jobId, [{ path: "empty.txt", content: "" }, { path: "deep/new/dir/x.ts", content: "export {}" }])).failed).toBe(0);
      await storage.writePlan(a.jobId, plan);
      await storage.createJob({ projectName: "c" });
      const doneA = await storage.completeJob(a.jobId);
      expect(doneA).toMatchObject({ status: "complete", zipReady: true, filesCount: storedA.size + 3 });
      const doneB = await storage.completeJob(b.jobId);
      expect(doneB).toMatchObject({ status: "complete", zipReady: true });
      for (const [job, stored] of [
        [a, storedA],
        [b, storedB],
      ] as const) {
        const zipPath = path.join(basePath, `${job.jobId}.zip`);
        await unzipTest(zipPath);
        const entries = await zipFileEntries(zipPath);
        expect([...entries.keys()].sort()).toEqual((await storage.listFiles(job.jobId)).map((f) => f.path));
        for (const [p, content] of stored) expect(entries.get(p)?.equals(content), p).toBe(true);
      }
      expect(await temporaryLeftovers(basePath)).toEqual([]);
    } finally {
      await storage.close();
    }
  });

  it.skipIf(!canMount)("is STORAGE_FULL when the inodes run out, also while making parent directories", async () => {
    const mountPoint = mounts.inodes.dir;
    const basePath = path.join(mountPoint, "jobs");
    const fillerDir = path.join(mountPoint, "filler");
    await fs.mkdir(fillerDir);
    const storage = await JobStorageManager.open({ basePath, scheduler: manualScheduler() });
    try {
      const a = await storage.createJob({ projectName: "a" });
      await storage.writeFile(a.jobId, "src/index.ts", "export const a = 1;\n");
      const victim = await storage.createJob({ projectName: "deleted on the full disk" });
      const old = await storage.createJob({ projectName: "expires on the full disk", ttlHours: 1 });
      await storage.writeFile(old.jobId, "old.txt", "old");
      const fillers = await fillInodes(fillerDir);

      // A new parent directory cannot be made (prepareTarget), nor a temporary file.
      expect((await rejection(storage.writeFile(a.jobId, "lib/deep/x.ts", "x"))).code).toBe("STORAGE_FULL");
      const batch = await storage.writeFiles(a.jobId, [
        { path: "lib/other/y.ts", content: "y" },
        { path: "z.ts", content: "z" },
        { path: "src/index.ts", content: "export const a = 2;\n" },
      ]);
      expect(batch.results.map((entry) => entry.error?.code)).toEqual(["STORAGE_FULL", "STORAGE_FULL", "STORAGE_FULL"]);
      expect((await rejection(storage.createJob({ projectName: "b" }))).code).toBe("STORAGE_FULL");
      expect((await rejection(storage.writePlan(a.jobId, { tasks: [] }))).code).toBe("STORAGE_FULL");

      // Removing jobs is how space comes back: it works on the full disk (the lock directory
      // cannot be made there), and so does the expiry cleanup.
      expect(await storage.deleteJob(victim.jobId)).toBe(true);
      expect(await storage.getJob(victim.jobId)).toBeUndefined();
      fillers.push(...(await fillInodes(fillerDir, "again"))); // what the deletion freed
      const later = new Date(Date.now() + 2 * 3_600_000);
      const cleaner = await JobStorageManager.open({ basePath, scheduler: manualScheduler(), now: () => later });
      try {
        expect((await cleaner.cleanupExpired()).cleanedJobs).toEqual([old.jobId]);
      } finally {
        await cleaner.close();
      }

      expect(await storage.readFile(a.jobId, "src/index.ts", "utf8")).toBe("export const a = 1;\n");
      expect((await storage.listFiles(a.jobId)).map((f) => f.path)).toEqual(["src/index.ts"]);
      expect(await storage.getJob(a.jobId)).toMatchObject({ filesCount: 1, totalSizeBytes: 20 });
      expect((await storage.listJobs()).map((job) => job.jobId)).toEqual([a.jobId]);
      expect(await temporaryLeftovers(basePath)).toEqual([]);

      for (const filler of fillers) await fs.rm(filler);
      expect((await storage.writeFiles(a.jobId, batch.results.map((entry, i) => ({ path: entry.path, content: ["y", "z", "export const a = 2;\n"][i]! })))).failed).toBe(0);
      const done = await storage.completeJob(a.jobId);
      expect(done).toMatchObject({ zipReady: true, filesCount: 3 });
      await unzipTest(path.join(basePath, `${a.jobId}.zip`));
      expect([...(await zipFileEntries(path.join(basePath, `${a.jobId}.zip`))).keys()].sort()).toEqual(["lib/other/y.ts", "src/index.ts", "z.ts"]);
    } finally {
      await storage.close();
    }
  });
});
