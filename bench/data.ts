/**
 * Deterministic benchmark inputs.
 *
 * Every file is described by a {@link FileSpec} (path, size, kind, seed) and
 * its content is generated on demand from that seed, so the same seed gives
 * byte-identical trees on every machine and no scenario has to hold a whole
 * data set in memory.
 *
 * - S: 50 code-like text files of 1-20 KiB in nested folders (a generated project).
 * - M: 3,000 files of 10-30 KiB (about 60 MB) in nested folders; every fourth
 *   is incompressible random bytes named `.bin` (an extension the ZIP code does
 *   not know, so it has to find out by itself that deflating does not pay).
 * - L: four 64 MiB files, two code-like text (`.js`) and two random (`.bin`).
 */
import fs from "node:fs";
import path from "node:path";

export const KIB = 1024;
export const MIB = 1024 * KIB;
export const DEFAULT_SEED = 0x5eed_2024;

/** mulberry32: a small, fast 32-bit PRNG with a 2^32 period; plenty for test data. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

/** FNV-1a of `text`, mixed with `seed`: a stable per-file seed. */
export function seedFor(seed: number, text: string): number {
  let hash = 0x811c9dc5 ^ seed;
  for (let i = 0; i < text.length; i += 1) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/** An integer in [min, max]. */
function between(next: () => number, min: number, max: number): number {
  return min + (next() % (max - min + 1));
}

function pick<T>(next: () => number, items: readonly T[]): T {
  return items[next() % items.length]!;
}

export interface FileSpec {
  /** Relative, `/`-separated path. */
  path: string;
  /** Exact size in bytes. */
  size: number;
  kind: "text" | "random";
  seed: number;
}

export interface DataSet {
  name: string;
  files: FileSpec[];
  totalBytes: number;
}

// ---------------------------------------------------------------- content

const VOCABULARY = 600;

const BASE_WORDS = ["app", "user", "job", "file", "zip", "plan", "task", "store", "item", "list", "view", "form", "data", "page", "route", "state", "cache", "query", "event", "node", "path", "size", "load", "save", "sync", "auth", "token", "config", "layout", "button", "modal", "render", "build", "parse", "write", "read", "open", "close", "merge", "split"];

/** A fixed vocabulary: the common words above plus 600 made-up ones, like the identifiers of a real code base. */
const SYLLABLES: readonly string[] = (() => {
  const next = mulberry32(0x0c0de);
  const letters = "abcdefghijklmnoprstuvwyz";
  const words = [...BASE_WORDS];
  for (let i = 0; i < VOCABULARY; i += 1) {
    let word = "";
    for (let k = between(next, 3, 9); k > 0; k -= 1) word += letters[next() % letters.length];
    words.push(word);
  }
  return words;
})();

function identifier(next: () => number): string {
  const first = pick(next, SYLLABLES);
  const second = pick(next, SYLLABLES);
  return `${first}${second[0]!.toUpperCase()}${second.slice(1)}`;
}

function typeName(next: () => number): string {
  const name = identifier(next);
  return `${name[0]!.toUpperCase()}${name.slice(1)}`;
}

/** One line of TypeScript-looking code (ASCII only, so characters are bytes). */
function codeLine(next: () => number, indent: number): string {
  const pad = "  ".repeat(indent);
  switch (next() % 12) {
    case 0:
      return `import { ${identifier(next)}, ${identifier(next)} } from "./${pick(next, SYLLABLES)}/${identifier(next)}.js";`;
    case 1:
      return `${pad}export async function ${identifier(next)}(${identifier(next)}: ${typeName(next)}, options: ${typeName(next)}Options = {}): Promise<${typeName(next)}> {`;
    case 2:
      return `${pad}const ${identifier(next)} = await ${identifier(next)}.${identifier(next)}(${identifier(next)}, ${next() % 10_000});`;
    case 3:
      return `${pad}if (${identifier(next)} === undefined || ${identifier(next)}.length > ${next() % 512}) return ${identifier(next)};`;
    case 4:
      return `${pad}// ${pick(next, SYLLABLES)} the ${pick(next, SYLLABLES)} before the ${pick(next, SYLLABLES)} is ${pick(next, SYLLABLES)}ed`;
    case 5:
      return `${pad}export interface ${typeName(next)} { ${identifier(next)}: string; ${identifier(next)}?: number }`;
    case 6:
      return `${pad}for (const ${identifier(next)} of ${identifier(next)}.${identifier(next)}()) ${identifier(next)}.push(${identifier(next)});`;
    case 7:
      return `${pad}throw new Error(\`${typeName(next)} ${pick(next, SYLLABLES)} failed: \${${identifier(next)}}\`);`;
    case 8:
      return `${pad}return { ${identifier(next)}, ${identifier(next)}: ${identifier(next)} ?? "${pick(next, SYLLABLES)}", size: ${next() % 65_536} };`;
    case 9:
      return `${pad}<${typeName(next)} ${identifier(next)}={${identifier(next)}} className="${pick(next, SYLLABLES)}-${pick(next, SYLLABLES)}" />`;
    case 10:
      return `${pad}}`;
    default:
      return `${pad}${identifier(next)}.${identifier(next)} = ${identifier(next)}(${identifier(next)}.${identifier(next)});`;
  }
}

/** Fills `target` with code-like text from `next`. */
function fillText(target: Buffer, next: () => number): void {
  let offset = 0;
  const lines: string[] = [];
  while (offset < target.length) {
    lines.length = 0;
    let length = 0;
    // ~64 KiB of text per write keeps string building cheap.
    while (length < 64 * KIB) {
      const line = codeLine(next, next() % 4);
      lines.push(line);
      length += line.length + 1;
    }
    offset += target.write(`${lines.join("\n")}\n`, offset, "latin1");
  }
}

function fillRandom(target: Buffer, next: () => number): void {
  const words = Math.floor(target.length / 4);
  const view = new Uint32Array(target.buffer, target.byteOffset, words);
  if (target.byteOffset % 4 === 0) {
    for (let i = 0; i < words; i += 1) view[i] = next();
  } else {
    for (let i = 0; i < words; i += 1) target.writeUInt32LE(next(), i * 4);
  }
  for (let i = words * 4; i < target.length; i += 1) target[i] = next() & 0xff;
}

/** The content of `spec`, generated from its seed. */
export function contentOf(spec: FileSpec): Buffer {
  // allocUnsafeSlow: an unpooled buffer, so its offset is 0 and Uint32Array fits.
  const data = Buffer.allocUnsafeSlow(spec.size);
  const next = mulberry32(spec.seed);
  if (spec.kind === "text") fillText(data, next);
  else fillRandom(data, next);
  return data;
}

/** The content of a text spec as a string (what an agent hands to `writeFile`). */
export function textOf(spec: FileSpec): string {
  return contentOf(spec).toString("latin1");
}

// ---------------------------------------------------------------- sets

const S_DIRS = [
  "src",
  "src/components",
  "src/components/ui",
  "src/app",
  "src/app/[id]",
  "src/app/(marketing)",
  "src/app/api/jobs",
  "src/lib",
  "src/hooks",
  "src/styles",
  "test",
  "test/fixtures",
  ".github/workflows",
  "docs",
  "",
];
const S_EXTENSIONS = ["ts", "tsx", "ts", "tsx", "css", "md", "json", "ts"];

function uniquePath(used: Set<string>, candidate: string, index: number): string {
  if (!used.has(candidate)) {
    used.add(candidate);
    return candidate;
  }
  const dot = candidate.lastIndexOf(".");
  const renamed = `${candidate.slice(0, dot)}-${index}${candidate.slice(dot)}`;
  used.add(renamed);
  return renamed;
}

function finish(name: string, files: FileSpec[]): DataSet {
  files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return { name, files, totalBytes: files.reduce((sum, file) => sum + file.size, 0) };
}

/** S: a typical generated project, 50 text files of 1-20 KiB in nested folders. */
export function setS(seed = DEFAULT_SEED): DataSet {
  const next = mulberry32(seedFor(seed, "S"));
  const used = new Set<string>();
  const files: FileSpec[] = [];
  for (let i = 0; i < 50; i += 1) {
    const dir = pick(next, S_DIRS);
    const name = `${identifier(next)}.${pick(next, S_EXTENSIONS)}`;
    const filePath = uniquePath(used, dir === "" ? name : `${dir}/${name}`, i);
    files.push({ path: filePath, size: between(next, KIB, 20 * KIB), kind: "text", seed: seedFor(seed, `S:${filePath}`) });
  }
  return finish("S", files);
}

/** M: 3,000 files of 10-30 KiB (about 60 MB), a quarter incompressible. */
export function setM(seed = DEFAULT_SEED): DataSet {
  const next = mulberry32(seedFor(seed, "M"));
  // ~200 folders up to four levels deep, like a monorepo.
  const dirs: string[] = [];
  for (let p = 0; p < 8; p += 1) {
    const pkg = `packages/${identifier(next)}-${p}`;
    for (let d = 0; d < 24; d += 1) {
      const depth = 1 + (next() % 3);
      const parts = [pkg, "src"];
      for (let k = 1; k < depth; k += 1) parts.push(pick(next, SYLLABLES));
      parts.push(`${pick(next, SYLLABLES)}${d}`);
      dirs.push(parts.join("/"));
    }
  }
  const files: FileSpec[] = [];
  for (let i = 0; i < 3000; i += 1) {
    const random = i % 4 === 3;
    const filePath = `${pick(next, dirs)}/${identifier(next)}-${i}.${random ? "bin" : pick(next, ["ts", "tsx", "js", "json", "md"])}`;
    files.push({ path: filePath, size: between(next, 10 * KIB, 30 * KIB), kind: random ? "random" : "text", seed: seedFor(seed, `M:${filePath}`) });
  }
  return finish("M", files);
}

/** L: four 64 MiB files, two code-like text and two random. */
export function setL(seed = DEFAULT_SEED): DataSet {
  const files: FileSpec[] = [
    { path: "dist/bundle-a.js", size: 64 * MIB, kind: "text", seed: seedFor(seed, "L:a") },
    { path: "dist/bundle-b.js", size: 64 * MIB, kind: "text", seed: seedFor(seed, "L:b") },
    { path: "assets/blob-a.bin", size: 64 * MIB, kind: "random", seed: seedFor(seed, "L:c") },
    { path: "assets/blob-b.bin", size: 64 * MIB, kind: "random", seed: seedFor(seed, "L:d") },
  ];
  return finish("L", files);
}

/** Writes `set` below `root` (created if missing), one file at a time. */
export function materialize(set: DataSet, root: string): void {
  const made = new Set<string>();
  for (const spec of set.files) {
    const target = path.join(root, spec.path);
    const dir = path.dirname(target);
    if (!made.has(dir)) {
      fs.mkdirSync(dir, { recursive: true });
      made.add(dir);
    }
    fs.writeFileSync(target, contentOf(spec));
  }
}

export function describe(set: DataSet): string {
  const random = set.files.filter((file) => file.kind === "random").length;
  const mb = set.totalBytes / 1e6;
  return `${set.name}: ${set.files.length} files, ${mb >= 10 ? mb.toFixed(0) : mb.toFixed(2)} MB${random > 0 ? `, ${random} random` : ""}`;
}
