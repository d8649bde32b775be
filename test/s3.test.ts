/**
 * ephemeral-jobs/s3 against a real S3-protocol server (s3rver) on loopback.
 */
import { createHash, randomBytes } from "node:crypto";
import fs from "node:fs/promises";
import type { AddressInfo } from "node:net";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, S3Client } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { contentDisposition, isJobStorageError, type JobStorageManager } from "../src/index.js";
import { s3KeyFor, s3Uploader, type S3UploadProgress, type S3UploaderOptions } from "../src/s3/index.js";
import { isMissingModule, loadLibStorage } from "../src/s3/load.js";
import { openStorage } from "./helpers/temp.js";

const MIB = 1024 * 1024;

/** The part of s3rver's API used here (it ships no types). */
interface S3rverInstance {
  run(): Promise<AddressInfo>;
  close(): Promise<void>;
}
type S3rverConstructor = new (options: {
  port: number;
  address: string;
  silent: boolean;
  directory: string;
  configureBuckets: { name: string }[];
}) => S3rverInstance;

const require = createRequire(import.meta.url);
const S3rver = require("s3rver") as S3rverConstructor;

let server: S3rverInstance;
let serverDir: string;
let endpoint: string;
const clients: S3Client[] = [];

function makeClient(options: { endpoint?: string; maxAttempts?: number } = {}): { client: S3Client; commands: string[] } {
  const client = new S3Client({
    endpoint: options.endpoint ?? endpoint,
    forcePathStyle: true,
    region: "us-east-1",
    credentials: { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" },
    maxAttempts: options.maxAttempts ?? 3,
    requestHandler: { connectionTimeout: 2_000, requestTimeout: 10_000 },
  });
  // Counts every command the uploader sends.
  const commands: string[] = [];
  client.middlewareStack.add(
    (next, context) => async (args) => {
      commands.push(String(context.commandName));
      return next(args);
    },
    { step: "initialize", name: "commandCounter" },
  );
  clients.push(client);
  return { client, commands };
}

async function getObjectBytes(client: S3Client, bucket: string, key: string): Promise<Buffer> {
  const response = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return Buffer.from(await response.Body!.transformToByteArray());
}

const sha256 = (data: Uint8Array): string => createHash("sha256").update(data).digest("hex");

/** A completed job whose ZIP is about `mib` MiB of incompressible bytes. */
async function completedJob(storage: JobStorageManager, mib: number, projectName = "big-project"): Promise<string> {
  const job = await storage.createJob({ projectName });
  await storage.writeFiles(job.jobId, [
    { path: "assets/random-a.bin", content: randomBytes(Math.floor(mib * MIB * 0.6)) },
    { path: "assets/random-b.bin", content: randomBytes(Math.ceil(mib * MIB * 0.4)) },
    { path: "README.md", content: "# big\n" },
  ]);
  await storage.completeJob(job.jobId);
  return job.jobId;
}

beforeAll(async () => {
  serverDir = await fs.mkdtemp(path.join(os.tmpdir(), "ej-s3rver-"));
  server = new S3rver({ port: 0, address: "127.0.0.1", silent: true, directory: serverDir, configureBuckets: [{ name: "jobs" }] });
  const address = await server.run();
  endpoint = `http://127.0.0.1:${address.port}`;
});

afterAll(async () => {
  for (const client of clients) client.destroy();
  await server?.close();
  if (serverDir) await fs.rm(serverDir, { recursive: true, force: true });
});

describe("s3Uploader against s3rver", () => {
  it("streams a ZIP larger than two parts as a multipart upload, byte for byte", async () => {
    const { storage } = await openStorage({ maxFileSizeBytes: 16 * MIB, maxProjectSizeBytes: 64 * MIB });
    const jobId = await completedJob(storage, 12, "Café app");
    const local = await fs.readFile(path.join(storage.basePath, `${jobId}.zip`));
    expect(local.length).toBeGreaterThan(2 * 5 * MIB);

    const { client, commands } = makeClient();
    const progress: S3UploadProgress[] = [];
    const job = await storage.uploadZip(
      jobId,
      s3Uploader({ client, bucket: "jobs", prefix: "projects", onProgress: (p) => progress.push(p) }),
    );

    expect(job.s3Url).toBe(`s3://jobs/projects/${jobId}.zip`);
    expect((await storage.getJob(jobId))?.s3Url).toBe(`s3://jobs/projects/${jobId}.zip`);

    const remote = await getObjectBytes(client, "jobs", `projects/${jobId}.zip`);
    expect(remote.length).toBe(local.length);
    expect(sha256(remote)).toBe(sha256(local));

    const head = await client.send(new HeadObjectCommand({ Bucket: "jobs", Key: `projects/${jobId}.zip` }));
    expect(head.ContentType).toBe("application/zip");
    expect(head.ContentLength).toBe(local.length);
    expect(head.ContentDisposition).toBe(contentDisposition("Café app.zip"));

    // 5 MiB parts: ceil(size / 5 MiB) UploadPart requests, one create, one complete.
    const parts = Math.ceil(local.length / (5 * MIB));
    expect(parts).toBeGreaterThanOrEqual(3);
    expect(commands.filter((name) => name === "CreateMultipartUploadCommand")).toHaveLength(1);
    expect(commands.filter((name) => name === "UploadPartCommand")).toHaveLength(parts);
    expect(commands.filter((name) => name === "CompleteMultipartUploadCommand")).toHaveLength(1);
    expect(commands).not.toContain("PutObjectCommand");
    expect(new Set(progress.map((p) => p.part))).toEqual(new Set(Array.from({ length: parts }, (_, i) => i + 1)));
    expect(progress.at(-1)).toMatchObject({ jobId, loadedBytes: local.length, totalBytes: local.length });
  });

  it("honours partSizeBytes and queueSize", async () => {
    const { storage } = await openStorage({ maxFileSizeBytes: 16 * MIB, maxProjectSizeBytes: 64 * MIB });
    const jobId = await completedJob(storage, 13);
    const local = await fs.readFile(path.join(storage.basePath, `${jobId}.zip`));
    const { client, commands } = makeClient();
    await storage.uploadZip(jobId, s3Uploader({ client, bucket: "jobs", partSizeBytes: 6 * MIB, queueSize: 1 }));
    expect(commands.filter((name) => name === "UploadPartCommand")).toHaveLength(Math.ceil(local.length / (6 * MIB)));
    expect(sha256(await getObjectBytes(client, "jobs", `${jobId}.zip`))).toBe(sha256(local));
  });

  it("sends a ZIP smaller than one part with a single PutObject; normalises the prefix", async () => {
    const { storage } = await openStorage();
    const job = await storage.createJob({ projectName: "small" });
    await storage.writeFile(job.jobId, "src/index.ts", "export const answer = 42;\n");
    await storage.completeJob(job.jobId);
    const { client, commands } = makeClient();

    const uploaded = await storage.uploadZip(job.jobId, s3Uploader({ client, bucket: "jobs", prefix: "exports/2026///" }));
    expect(uploaded.s3Url).toBe(`s3://jobs/exports/2026/${job.jobId}.zip`);
    expect(commands).toEqual(["PutObjectCommand"]);

    const zip = await storage.openZip(job.jobId);
    zip.stream.destroy();
    const local = await fs.readFile(zip.path);
    expect(sha256(await getObjectBytes(client, "jobs", `exports/2026/${job.jobId}.zip`))).toBe(sha256(local));

    const listed = await client.send(new ListObjectsV2Command({ Bucket: "jobs", Prefix: "exports/" }));
    expect(listed.Contents?.map((object) => object.Key)).toEqual([`exports/2026/${job.jobId}.zip`]);
  });

  it("rejects on an unreachable endpoint and leaves s3Url unchanged", async () => {
    const { storage } = await openStorage();
    const job = await storage.createJob({ projectName: "offline" });
    await storage.writeFile(job.jobId, "a.txt", "a");
    await storage.completeJob(job.jobId);
    const { client: good } = makeClient();
    const first = await storage.uploadZip(job.jobId, s3Uploader({ client: good, bucket: "jobs", prefix: "first" }));
    expect(first.s3Url).toBe(`s3://jobs/first/${job.jobId}.zip`);

    const { client: unreachable } = makeClient({ endpoint: "http://127.0.0.1:1", maxAttempts: 1 });
    const started = Date.now();
    await expect(
      storage.uploadZip(job.jobId, s3Uploader({ client: unreachable, bucket: "jobs", prefix: "second" })),
    ).rejects.toThrow(/ECONNREFUSED|connect|timed? ?out/i);
    expect(Date.now() - started).toBeLessThan(15_000);
    expect((await storage.getJob(job.jobId))?.s3Url).toBe(first.s3Url);
  });

  it("rejects with the server's error for a missing bucket, aborting the multipart upload", async () => {
    const { storage } = await openStorage({ maxFileSizeBytes: 16 * MIB, maxProjectSizeBytes: 64 * MIB });
    const jobId = await completedJob(storage, 11);
    const { client, commands } = makeClient();
    await expect(storage.uploadZip(jobId, s3Uploader({ client, bucket: "no-such-bucket" }))).rejects.toMatchObject({
      name: "NoSuchBucket",
    });
    expect(commands).not.toContain("CompleteMultipartUploadCommand");
    expect((await storage.getJob(jobId))?.s3Url).toBeUndefined();
  });

  it("never reaches the uploader before the ZIP is ready", async () => {
    const { storage } = await openStorage();
    const job = await storage.createJob({ projectName: "unfinished" });
    const { client, commands } = makeClient();
    await expect(storage.uploadZip(job.jobId, s3Uploader({ client, bucket: "jobs" }))).rejects.toSatisfy((error) =>
      isJobStorageError(error, "ZIP_NOT_READY"),
    );
    expect(commands).toEqual([]);
  });
});

describe("s3Uploader options", () => {
  const { client } = { client: new S3Client({ region: "us-east-1" }) };
  afterAll(() => client.destroy());

  const bad: [string, Partial<S3UploaderOptions> | null, string][] = [
    ["no options", null, "options"],
    ["no client", { client: undefined, bucket: "b" }, '"client"'],
    ["client without send", { client: {} as S3Client, bucket: "b" }, '"client"'],
    ["no bucket", { bucket: undefined }, '"bucket"'],
    ["empty bucket", { bucket: "" }, '"bucket"'],
    ["blank bucket", { bucket: "  " }, '"bucket"'],
    ["bucket with a slash", { bucket: "a/b" }, '"bucket"'],
    ["prefix not a string", { prefix: 42 as unknown as string }, '"prefix"'],
    ["absolute prefix", { prefix: "/x" }, '"prefix"'],
    ["part too small", { partSizeBytes: 5 * MIB - 1 }, '"partSizeBytes"'],
    ["part not an integer", { partSizeBytes: 5 * MIB + 0.5 }, '"partSizeBytes"'],
    ["part too large", { partSizeBytes: 6 * 1024 * MIB }, '"partSizeBytes"'],
    ["queue of zero", { queueSize: 0 }, '"queueSize"'],
    ["queue not a number", { queueSize: "4" as unknown as number }, '"queueSize"'],
    ["onProgress not a function", { onProgress: "x" as unknown as () => void }, '"onProgress"'],
  ];
  it.each(bad)("rejects %s with INVALID_INPUT naming the option", (_name, overrides, named) => {
    const options = overrides === null ? null : { client, bucket: "jobs", ...overrides };
    let caught: unknown;
    try {
      s3Uploader(options as S3UploaderOptions);
    } catch (error) {
      caught = error;
    }
    expect(isJobStorageError(caught, "INVALID_INPUT")).toBe(true);
    expect((caught as Error).message).toContain(named);
  });

  it("accepts the documented extremes", () => {
    expect(() => s3Uploader({ client, bucket: "jobs", partSizeBytes: 5 * MIB, queueSize: 1 })).not.toThrow();
    expect(() => s3Uploader({ client, bucket: "jobs", prefix: "" })).not.toThrow();
  });

  it.each([
    [undefined, "job-1.zip"],
    ["", "job-1.zip"],
    ["projects", "projects/job-1.zip"],
    ["projects/", "projects/job-1.zip"],
    ["a/b//", "a/b/job-1.zip"],
  ])("keys with prefix %j as %s", (prefix, key) => {
    expect(s3KeyFor("job-1", prefix)).toBe(key);
  });
});

describe("the optional @aws-sdk/lib-storage peer", () => {
  const notFound = (name: string): Error =>
    Object.assign(new Error(`Cannot find package '${name}' imported from /app/dist/s3/load.js`), { code: "ERR_MODULE_NOT_FOUND" });

  it("says what to install when it is missing", async () => {
    const error = await loadLibStorage(() => Promise.reject(notFound("@aws-sdk/lib-storage"))).catch((e: unknown) => e);
    expect(isJobStorageError(error, "INVALID_STATE")).toBe(true);
    expect((error as Error).message).toMatch(/npm install .*@aws-sdk\/lib-storage/);
  });

  it("lets other failures through unchanged (a missing dependency of lib-storage itself, say)", async () => {
    const inner = notFound("@smithy/something");
    await expect(loadLibStorage(() => Promise.reject(inner))).rejects.toBe(inner);
    expect(isMissingModule(inner, "@aws-sdk/lib-storage")).toBe(false);
  });

  it("surfaces a missing peer from upload(), before any request", async () => {
    const { client, commands } = makeClient({ endpoint: "http://127.0.0.1:1" });
    const uploader = s3Uploader({
      client,
      bucket: "jobs",
      importLibStorage: () => Promise.reject(notFound("@aws-sdk/lib-storage")),
    } as S3UploaderOptions);
    const { storage } = await openStorage();
    const job = await storage.createJob({ projectName: "p" });
    await storage.writeFile(job.jobId, "a.txt", "a");
    await storage.completeJob(job.jobId);
    await expect(storage.uploadZip(job.jobId, uploader)).rejects.toThrow(/@aws-sdk\/lib-storage/);
    expect(commands).toEqual([]);
    expect((await storage.getJob(job.jobId))?.s3Url).toBeUndefined();
  });

  it("is only imported by src/s3: the core never imports the AWS SDK", async () => {
    const src = fileURLToPath(new URL("../src/", import.meta.url));
    const offenders: string[] = [];
    for (const entry of await fs.readdir(src, { recursive: true, withFileTypes: true })) {
      if (!entry.isFile() || !entry.name.endsWith(".ts")) continue;
      const file = path.join(entry.parentPath, entry.name);
      const relative = path.relative(src, file).split(path.sep).join("/");
      if (relative.startsWith("s3/")) continue;
      if (/from\s+["']@aws-sdk\/|import\(\s*["']@aws-sdk\//.test(await fs.readFile(file, "utf8"))) offenders.push(relative);
    }
    expect(offenders).toEqual([]);
  });
});
