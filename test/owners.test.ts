/**
 * Liveness through owner locks: a lock file under an owner's name is held
 * from its first instant, so a process probing while another opens never
 * takes a live owner for dead (it would then settle that owner's writes
 * under it); a closed or killed owner reads as dead.
 */
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { OwnerRegistry } from "../src/manager/owners.js";
import { startChild } from "./fixtures/children.js";
import { tempDir } from "./helpers/temp.js";

const OWNER_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe("owner locks", () => {
  it("never shows a live owner as dead to a process probing while it opens", async () => {
    const dir = path.join(await tempDir("ej-owners-"), "owners");
    const prober = new OwnerRegistry(dir);
    const child = startChild("owner-maker", [dir, "150"]);
    const seen = new Set<string>();
    const dead: string[] = [];
    try {
      let done = false;
      let failed: Error | undefined;
      void child.waitForLine("done").then(
        () => (done = true),
        (error: unknown) => ((failed = error instanceof Error ? error : new Error(String(error))), (done = true)),
      );
      // Probe every owner file as soon as it appears, while the child keeps opening new ones.
      for (;;) {
        for (const name of fs.existsSync(dir) ? fs.readdirSync(dir) : []) {
          if (!OWNER_ID.test(name) || name === prober.id || seen.has(name)) continue;
          seen.add(name);
          if (!prober.isAlive(name)) dead.push(name);
        }
        if (failed !== undefined) throw failed;
        if (done && seen.size >= 150) break;
        await new Promise((resolve) => setImmediate(resolve));
      }
      expect(seen.size).toBe(150);
      expect(dead).toEqual([]);
    } finally {
      child.child.kill("SIGKILL");
      await child.exited;
      prober.close();
    }
    // Killed: every one of its owners reads as dead now.
    const after = new OwnerRegistry(dir);
    try {
      expect([...seen].filter((name) => after.isAlive(name))).toEqual([]);
    } finally {
      after.close();
    }
  }, 60_000);
});
