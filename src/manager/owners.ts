/**
 * Which processes are alive. Each open manager is an "owner": it holds an
 * exclusive SQLite lock on a small file of its own (`.index/owners/<id>`)
 * for as long as it lives. The lock is an fcntl lock, so the kernel drops it
 * the instant the process dies; another process tells a dead owner from a
 * live one by trying to take that lock, never by a timeout. An intent left
 * by a dead owner is then settled at once, with no stale-lock wait.
 */
import { randomUUID } from "node:crypto";
import { createRequire } from "node:module";
import fs from "node:fs";
import path from "node:path";
import type BetterSqlite3 from "better-sqlite3";
import { errnoCode, isDiskFullError } from "../errors.js";

type DatabaseConstructor = typeof BetterSqlite3;

function driver(): DatabaseConstructor {
  return createRequire(import.meta.url)("better-sqlite3") as DatabaseConstructor;
}

/** How long a "that owner is alive" answer is trusted before asking again. */
const ALIVE_TTL_MS = 250;

/** This process's own owner lock, and the liveness checks of the others. */
export class OwnerRegistry {
  readonly id = randomUUID();
  readonly #dir: string;
  readonly #lock: BetterSqlite3.Database | undefined;
  readonly #alive = new Map<string, number>();
  readonly #dead = new Set<string>();

  /**
   * Takes this process's lock. On a disk so full that not even this small
   * file can be made, the manager runs without one (`locked` is false): the
   * others then take it for dead and may settle a change of its in flight,
   * which fails that change but never the counts. The caller logs it.
   */
  constructor(dir: string) {
    this.#dir = dir;
    let lock: BetterSqlite3.Database | undefined;
    // Made under a name no prober looks at, locked, then renamed into place: a file under the
    // owner's name is locked from its first instant (the lock is the inode's, so it survives
    // the rename). Otherwise a process opening at the same moment could find it unlocked,
    // take this live process for dead, and settle its writes under it.
    const staging = path.join(dir, `.${this.id}.new`);
    try {
      fs.mkdirSync(dir, { recursive: true });
      lock = new (driver())(staging);
      // EXCLUSIVE locking mode: after the first write the lock is held until the connection closes.
      lock.pragma("locking_mode = EXCLUSIVE");
      lock.pragma("journal_mode = MEMORY"); // no -journal file beside it (OFF is refused in defensive mode)
      lock.exec(`CREATE TABLE owner (pid INTEGER); INSERT INTO owner VALUES (${process.pid})`);
      fs.renameSync(staging, this.#file(this.id));
    } catch (error) {
      lock?.close();
      fs.rmSync(staging, { force: true });
      fs.rmSync(this.#file(this.id), { force: true });
      if (!isDiskFullError(error) && errnoCode(error) !== "SQLITE_CANTOPEN") throw error;
      lock = undefined;
    }
    this.#lock = lock;
  }

  /** Whether this process holds its lock (false only on a disk that was full at open). */
  get locked(): boolean {
    return this.#lock !== undefined;
  }

  #file(owner: string): string {
    return path.join(this.#dir, owner);
  }

  /**
   * Whether `owner` (this process's or another's) is still alive. A live
   * answer is remembered for a moment; `fresh` probes again, for a caller
   * about to wait on that owner.
   */
  isAlive(owner: string, { fresh = false }: { fresh?: boolean } = {}): boolean {
    if (owner === this.id) return true;
    if (this.#dead.has(owner)) return false;
    const checked = this.#alive.get(owner);
    if (!fresh && checked !== undefined && Date.now() - checked < ALIVE_TTL_MS) return true;
    const alive = this.#probe(owner);
    if (alive) this.#alive.set(owner, Date.now());
    else {
      this.#alive.delete(owner);
      this.#dead.add(owner);
    }
    return alive;
  }

  #probe(owner: string): boolean {
    const file = this.#file(owner);
    if (!fs.existsSync(file)) return false; // closed cleanly, or never got that far
    let probe: BetterSqlite3.Database;
    try {
      probe = new (driver())(file, { timeout: 0, fileMustExist: true });
    } catch (error) {
      if (errnoCode(error) === "SQLITE_CANTOPEN") return false;
      throw error;
    }
    try {
      probe.exec("BEGIN IMMEDIATE");
      probe.exec("ROLLBACK");
      return false; // the lock was free: its holder is gone
    } catch (error) {
      if (errnoCode(error) === "SQLITE_BUSY") return true;
      throw error;
    } finally {
      probe.close();
    }
  }

  /** Removes the lock file of an owner found dead. */
  forget(owner: string): void {
    if (owner === this.id) return;
    for (const suffix of ["", "-journal"]) fs.rmSync(`${this.#file(owner)}${suffix}`, { force: true });
  }

  /** Releases this process's lock and removes its file. */
  close(): void {
    if (!this.#lock?.open) return;
    this.#lock.close();
    fs.rmSync(this.#file(this.id), { force: true });
  }
}
