/**
 * Property: whatever paths and contents an agent writes, through writeFile or
 * writeFiles, nothing lands outside `<basePath>/<jobId>/files`, internal state
 * is never touched, and the job's counts always equal the disk.
 */
import { createHash } from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { isJobStorageError, validateJobPath, type FileInput } from "../src/index.js";
import { openStorage, tempDir } from "./helpers/temp.js";

/** Segments an attacker, or a confused agent, might try. */
const HOSTILE_SEGMENTS = [
  "..", ".", "", "/", "\\", "C:", "c:", "\u0000", "\u0001", "\u007f", "\u0085", "%2e", "%2e%2e", "%2f", "..%2f", "%00",
  "plan.json", "job.json", "job.json.next", ".job_metadata.json", "lock", "tmp", "files", ".tmp", "new-x", "trash-x",
  "x.zip", "x.tmp", "CON", "nul.txt", "Com1.tar.gz", "\uff0e\uff0e", "\u2215", "\u2024\u2024", "é", "e\u0301", "😀",
  "\u202e", "\ud800", " ", "x ", "x.", "~", "a", "b", "src", "escape", "escape-file", "\\\\server", "C:\\x",
] as const;

/** A segment: a hostile one, an arbitrary string, or one of the links planted in files/. */
const segmentArb = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...HOSTILE_SEGMENTS) },
  { weight: 2, arbitrary: fc.string({ unit: "binary", minLength: 1, maxLength: 6 }) },
  { weight: 1, arbitrary: fc.constantFrom("escape", "escape-file") },
);

/** A path: segments glued with separators real or fake, or an arbitrary string. */
const pathArb = fc.oneof(
  {
    weight: 4,
    arbitrary: fc
      .array(fc.tuple(segmentArb, fc.constantFrom("/", "/", "//", "", "\\", "/./", "/../")), { minLength: 1, maxLength: 5 })
      .map((parts) => parts.map(([segment, separator], i) => (i === 0 ? segment : separator + segment)).join("")),
  },
  { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 30 }) },
  { weight: 1, arbitrary: fc.string({ unit: "grapheme", maxLength: 30 }) },
);

const contentArb = fc.oneof(fc.string({ unit: "binary", maxLength: 40 }), fc.uint8Array({ maxLength: 64 }));

const opsArb = fc.array(
  fc.record({
    batch: fc.array(fc.record({ path: pathArb, content: contentArb, executable: fc.boolean() }), { minLength: 1, maxLength: 6 }),
    single: fc.boolean(),
  }),
  { minLength: 1, maxLength: 3 },
);

type Snapshot = Map<string, string>;

/** Every entry below `root` (links not followed): path -> "dir", "link -> target" or a content hash. */
async function snapshot(root: string): Promise<Snapshot> {
  const found: Snapshot = new Map();
  async function visit(dir: string): Promise<void> {
    for (const entry of await fs.readdir(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      const relative = path.relative(root, full);
      if (entry.isSymbolicLink()) found.set(relative, `link -> ${await fs.readlink(full)}`);
      else if (entry.isDirectory()) {
        found.set(relative, "dir");
        await visit(full);
      } else found.set(relative, `file ${createHash("sha256").update(await fs.readFile(full)).digest("hex")}`);
    }
  }
  await visit(root);
  return found;
}

function toBuffer(content: string | Uint8Array): Buffer {
  return typeof content === "string" ? Buffer.from(content, "utf8") : Buffer.from(content);
}

describe("whatever the paths and contents", () => {
  it("nothing lands outside the job's files/, and the counts equal the disk", async () => {
    const parent = await tempDir("ej-prop-");
    const basePath = path.join(parent, "base");
    const outside = path.join(parent, "outside");
    await fs.mkdir(outside);
    await fs.writeFile(path.join(outside, "canary.txt"), "untouched");
    const { storage } = await openStorage({ basePath, maxFileSizeBytes: 48 });
    let accepted = 0;
    let refused = 0;

    await fc.assert(
      fc.asyncProperty(opsArb, async (ops) => {
        const { jobId } = await storage.createJob({ projectName: "property" });
        const filesDir = path.join(basePath, jobId, "files");
        // Links a build step might have left, pointing out of the job.
        await fs.symlink(outside, path.join(filesDir, "escape"));
        await fs.symlink(path.join(outside, "canary.txt"), path.join(filesDir, "escape-file"));
        const before = await snapshot(parent);
        const expected = new Map<string, Buffer>(); // the last acknowledged content of each path

        for (const { batch, single } of ops) {
          const files: FileInput[] = batch;
          const results = single
            ? await Promise.all(
                files.map((file) =>
                  storage.writeFile(jobId, file.path, file.content, { executable: file.executable }).then(
                    (result) => ({ success: true as const, path: result.path, code: undefined }),
                    (error: unknown) => {
                      if (!isJobStorageError(error)) throw error;
                      return { success: false as const, path: file.path, code: error.code };
                    },
                  ),
                ),
              )
            : (await storage.writeFiles(jobId, files)).results.map((entry) => ({ ...entry, code: entry.error?.code }));
          // Concurrent single writes to one path: the one that landed is one of them.
          const landedBy = new Map<string, Buffer[]>();
          results.forEach((result, index) => {
            const file = files[index]!;
            if (!result.success) {
              refused += 1;
              // A refused path is bad, too long, or in the way of a file or a link.
              expect(["INVALID_PATH", "FILE_TOO_LARGE"], `${JSON.stringify(file.path)}: ${result.code}`).toContain(result.code);
              return;
            }
            accepted += 1;
            expect(result.path).toBe(validateJobPath(file.path));
            landedBy.set(result.path, [...(landedBy.get(result.path) ?? []), toBuffer(file.content)]);
          });
          for (const [filePath, candidates] of landedBy) {
            const onDisk = await storage.readFile(jobId, filePath);
            if (single) expect(candidates.some((candidate) => candidate.equals(onDisk)), filePath).toBe(true);
            else expect(onDisk.equals(candidates.at(-1)!), filePath).toBe(true); // batch order decides
            expected.set(filePath, onDisk);
          }
        }

        // Outside files/, nothing changed but the job's metadata.
        const after = await snapshot(parent);
        const filesPrefix = path.relative(parent, filesDir) + path.sep;
        const recordPath = path.relative(parent, path.join(basePath, jobId, "job.json"));
        // The index (.index/) is the job's metadata too: its bytes change with every commit and read.
        const indexPrefix = path.relative(parent, path.join(basePath, ".index")) + path.sep;
        const outsideFiles = (shot: Snapshot): Snapshot =>
          new Map(
            [...shot]
              .filter(([p]) => !p.startsWith(filesPrefix))
              .map(([p, v]) => [p, p === recordPath ? "record" : p.startsWith(indexPrefix) ? v.split(" ")[0]! : v]),
          );
        expect(outsideFiles(after)).toEqual(outsideFiles(before));

        // Inside files/: exactly the acknowledged files (plus the links nobody replaced).
        const regular = [...after].filter(([p, v]) => p.startsWith(filesPrefix) && v.startsWith("file ")).map(([p]) => p.slice(filesPrefix.length).split(path.sep).join("/"));
        expect(regular.sort()).toEqual([...expected.keys()].sort());
        const listed = await storage.listFiles(jobId);
        expect(listed.map((file) => file.path)).toEqual([...expected.keys()].sort());
        const job = (await storage.getJob(jobId))!;
        expect(job.filesCount).toBe(listed.length);
        expect(job.totalSizeBytes).toBe(listed.reduce((sum, file) => sum + file.size, 0));
        expect(job.totalSizeBytes).toBe([...expected.values()].reduce((sum, content) => sum + content.length, 0));

        expect(await storage.deleteJob(jobId)).toBe(true);
      }),
      { numRuns: 300 },
    );
    // The property saw both sides: writes that landed and writes refused.
    expect(accepted).toBeGreaterThan(100);
    expect(refused).toBeGreaterThan(100);
    expect(await fs.readFile(path.join(outside, "canary.txt"), "utf8")).toBe("untouched");
  });
});
