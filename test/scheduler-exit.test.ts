import fs from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { JobStorageManager, manualScheduler } from "../src/index.js";
import { startChild } from "./fixtures/children.js";
import { tempDir } from "./helpers/temp.js";

// Far above the child's real need (well under a second of work after tsx starts);
// only reached when something keeps the event loop alive.
const EXIT_DEADLINE_MS = 20_000;

describe("the default scheduler", () => {
  it("lets a process that never calls close() exit on its own, with code 0", async () => {
    const basePath = await tempDir("ej-exit-");
    const running = startChild("scheduler-exit-child", [basePath]);
    let deadline: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([
      running.exited,
      new Promise<"hung">((resolve) => {
        deadline = setTimeout(() => resolve("hung"), EXIT_DEADLINE_MS);
      }),
    ]);
    clearTimeout(deadline);
    if (outcome === "hung") {
      running.child.kill("SIGKILL");
      await running.exited;
    }
    expect(outcome, `the child did not exit within ${EXIT_DEADLINE_MS} ms; it was killed`).not.toBe("hung");
    if (outcome === "hung") return;
    expect(outcome.stderr).toBe("");
    expect(outcome.code).toBe(0);
    expect(outcome.signal).toBeNull();

    // The work it did before exiting is there.
    const jobId = /^job (\S+)$/m.exec(outcome.stdout)?.[1];
    expect(jobId).toBeDefined();
    const storage = await JobStorageManager.open({ basePath, scheduler: manualScheduler() });
    try {
      expect(await storage.readFile(jobId!, "src/index.ts", "utf8")).toBe("export const answer = 42;\n");
      expect(await storage.getJob(jobId!)).toMatchObject({ filesCount: 1, totalSizeBytes: 26 });
      // The child released its job lock (proper-lockfile's lock is the `lock/` directory).
      await expect(fs.stat(path.join(basePath, jobId!, "lock"))).rejects.toMatchObject({ code: "ENOENT" });
    } finally {
      await storage.close();
    }
  });
});
