/**
 * The deflate worker is a separate module file (`dist/zip/deflate-worker.js`)
 * found through `import.meta.url`: this checks it is in the published
 * tarball and starts from an installed package, for an ESM host and for a
 * CommonJS host that `require()`s the package.
 */
import { execFile } from "node:child_process";
import { mkdir, mkdtemp, readFile, readdir, rm, symlink, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readWithYauzl, unzipTest } from "./helpers/zip-readers.js";

const execFileAsync = promisify(execFile);
const REPO = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const FILES = 200;

async function run(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): Promise<{ stdout: string; stderr: string }> {
  return execFileAsync(command, args, { cwd, env: { ...process.env, ...env }, maxBuffer: 64 * 1024 * 1024 });
}

describe("the packed package", () => {
  let root: string;
  let project: string;
  let tree: string;

  // One temporary directory for the whole file: building and installing the package once is enough.
  afterAll(async () => {
    if (root !== undefined) await rm(root, { recursive: true, force: true });
  });

  beforeAll(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), "ej-pack-"));
    // Build into a staging copy: nothing is written into the repository.
    const stage = path.join(root, "stage");
    await run(process.execPath, [path.join(REPO, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.build.json", "--outDir", path.join(stage, "dist")], REPO);
    for (const file of ["package.json", "README.md"]) await writeFile(path.join(stage, file), await readFile(path.join(REPO, file)));
    await run("npm", ["pack", "--silent", "--pack-destination", root], stage);
    const tarball = (await readdir(root)).find((name) => name.endsWith(".tgz"));
    if (tarball === undefined) throw new Error("npm pack wrote no tarball");

    project = path.join(root, "host");
    await mkdir(project);
    await writeFile(path.join(project, "package.json"), JSON.stringify({ name: "host", private: true }));
    // The tarball unpacked as npm would install it; its dependencies linked from the repository's
    // node_modules (no registry, and better-sqlite3's native module as the repository built it).
    const installed = path.join(project, "node_modules", "ephemeral-jobs");
    await mkdir(installed, { recursive: true });
    await run("tar", ["-xzf", path.join(root, tarball), "-C", installed, "--strip-components=1"], project);
    const manifest = JSON.parse(await readFile(path.join(installed, "package.json"), "utf8")) as { dependencies: Record<string, string> };
    for (const dependency of Object.keys(manifest.dependencies)) {
      await mkdir(path.dirname(path.join(project, "node_modules", dependency)), { recursive: true });
      await symlink(path.join(REPO, "node_modules", dependency), path.join(project, "node_modules", dependency));
    }

    tree = path.join(root, "tree");
    for (let index = 0; index < FILES; index += 1) {
      const dir = path.join(tree, `dir${index % 7}`);
      await mkdir(dir, { recursive: true });
      await writeFile(path.join(dir, `file${index}.ts`), `export const value${index} = ${index};\n`.repeat(20));
    }
  }, 180_000);

  const hosts = [
    {
      label: "an ESM host (import)",
      file: "host.mjs",
      source: (out: string) =>
        `import { zipDirectory } from "ephemeral-jobs";\n` +
        `const result = await zipDirectory(${JSON.stringify(tree)}, ${JSON.stringify(out)}, { workerThreads: 2 });\n` +
        `console.log(JSON.stringify(result));\n`,
    },
    {
      label: "a CommonJS host (require)",
      file: "host.cjs",
      source: (out: string) =>
        `const { zipDirectory } = require("ephemeral-jobs");\n` +
        `zipDirectory(${JSON.stringify(tree)}, ${JSON.stringify(out)}, { workerThreads: 2 })\n` +
        `  .then((result) => console.log(JSON.stringify(result)), (error) => { console.error(error); process.exitCode = 1; });\n`,
    },
  ];

  it.each(hosts)("zips $label through the deflate workers of the installed package", async ({ file, source }) => {
    const out = path.join(project, `${file}.zip`);
    await writeFile(path.join(project, file), source(out));
    // NODE_DEBUG=worker: Node logs each worker it creates, with its URL: the workers really ran, from the package.
    const { stdout, stderr } = await run(process.execPath, [file], project, { NODE_DEBUG: "worker" });
    expect(JSON.parse(stdout)).toMatchObject({ entries: FILES });
    expect(stderr).toMatch(/create new worker/);
    expect(stderr).toContain(`file://${path.join(project, "node_modules", "ephemeral-jobs", "dist", "zip", "deflate-worker.js")}`);
    await unzipTest(out);
    const entries = await readWithYauzl(out);
    expect(entries).toHaveLength(FILES);
    const sample = entries.find((entry) => entry.name === "dir3/file10.ts");
    expect(sample?.method).toBe(8);
    expect(sample?.data.toString()).toBe("export const value10 = 10;\n".repeat(20));
  });

  it("opens a JobStorageManager from the installed package: its index's native module loads, with require() too", async () => {
    const basePath = path.join(root, "jobs");
    const script =
      `const { JobStorageManager, manualScheduler } = require("ephemeral-jobs");\n` +
      `(async () => {\n` +
      `  const storage = await JobStorageManager.open({ basePath: ${JSON.stringify(basePath)}, scheduler: manualScheduler() });\n` +
      `  const { jobId } = await storage.createJob({ projectName: "packed" });\n` +
      `  await storage.writeFiles(jobId, [{ path: "src/index.ts", content: "export {};\\n" }, { path: ".gitignore", content: "dist\\n" }]);\n` +
      `  const job = await storage.completeJob(jobId);\n` +
      `  await storage.close();\n` +
      `  console.log(JSON.stringify({ jobId, filesCount: job.filesCount, zipReady: job.zipReady }));\n` +
      `})().catch((error) => { console.error(error); process.exitCode = 1; });\n`;
    await writeFile(path.join(project, "manager.cjs"), script);
    const { stdout } = await run(process.execPath, ["manager.cjs"], project);
    const result = JSON.parse(stdout) as { jobId: string; filesCount: number; zipReady: boolean };
    expect(result).toMatchObject({ filesCount: 2, zipReady: true });
    await unzipTest(path.join(basePath, `${result.jobId}.zip`));
  });
});
