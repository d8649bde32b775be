/**
 * The ZIP baselines: the `zip` command line, archiver, and yazl used naively.
 * Each writes the archive of every file below `tree` to `out`.
 */
import { createWriteStream } from "node:fs";
import fs from "node:fs/promises";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import { ZipArchive } from "archiver";
import { ZipFile } from "yazl";
import { exec } from "./lib.js";

/** `zip -r -q -6 <out> .` run in `tree` (Info-ZIP, deflate level 6, one thread). */
export async function zipCli(tree: string, out: string): Promise<void> {
  await exec("zip", ["-r", "-q", "-6", out, "."], tree);
}

/** archiver 8: `directory(tree, false)` at zlib level 6. */
export async function zipArchiver(tree: string, out: string): Promise<void> {
  const archive = new ZipArchive({ zlib: { level: 6 } });
  const written = pipeline(archive, createWriteStream(out));
  archive.directory(tree, false);
  await Promise.all([archive.finalize(), written]);
}

async function listFiles(root: string, relative = ""): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await fs.readdir(path.join(root, relative), { withFileTypes: true })) {
    const child = relative === "" ? entry.name : `${relative}/${entry.name}`;
    if (entry.isDirectory()) found.push(...(await listFiles(root, child)));
    else if (entry.isFile()) found.push(child);
  }
  return found;
}

/** yazl as its README shows it: `addFile` per file (deflated, default level), then `end()`. */
export async function zipYazlNaive(tree: string, out: string): Promise<void> {
  const zip = new ZipFile();
  const written = pipeline(zip.outputStream, createWriteStream(out));
  const failed = new Promise<never>((_, reject) => zip.once("error", reject));
  for (const file of (await listFiles(tree)).sort()) zip.addFile(path.join(tree, file), file);
  zip.end();
  await Promise.race([written, failed]);
}
