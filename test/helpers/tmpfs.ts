/**
 * Real tmpfs mounts for tests that need another file system or a full one.
 * Mounting needs root (or CAP_SYS_ADMIN); {@link probeTmpfs} says, once,
 * whether it is permitted so tests can skip saying why.
 */
import { execFile } from "node:child_process";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";

const execFileAsync = promisify(execFile);

/** A mounted tmpfs: its directory, and `unmount()` (idempotent), which also removes the directory. */
export interface Tmpfs {
  dir: string;
  unmount(): Promise<void>;
}

/** Mounts a fresh tmpfs with `options` (`size=64m`, `nr_inodes=64`, ...) on a new temporary directory. */
export async function mountTmpfs(options: string, label = "ej-tmpfs-"): Promise<Tmpfs> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), label));
  try {
    await execFileAsync("mount", ["-t", "tmpfs", "-o", options, "tmpfs", dir]);
  } catch (error) {
    await fs.rmdir(dir);
    throw error;
  }
  let mounted = true;
  return {
    dir,
    async unmount() {
      if (!mounted) return;
      mounted = false;
      await execFileAsync("umount", [dir]);
      await fs.rmdir(dir);
    },
  };
}

/** Whether a tmpfs can be mounted here: `{ ok: true }` or the reason it cannot. */
export async function probeTmpfs(): Promise<{ ok: true } | { ok: false; reason: string }> {
  try {
    const probe = await mountTmpfs("size=64k", "ej-tmpfs-probe-");
    await probe.unmount();
    return { ok: true };
  } catch (error) {
    const reason = (error as { stderr?: string }).stderr?.trim() || (error instanceof Error ? error.message : String(error));
    return { ok: false, reason };
  }
}
