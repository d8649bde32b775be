/**
 * A storage held in a Map, for the HTTP scenario's reference line: the routes
 * the load generator drives (create, getJob, writeFile, complete, download),
 * with no disk at all, so what remains is the cost of the HTTP layer. Not a
 * storage for anything else: the other methods throw.
 */
import { randomUUID } from "node:crypto";
import { Readable } from "node:stream";
import type { JobsStorage } from "../src/http/index.js";
import type { JobMetadata } from "../src/index.js";

export function memoryStorage(): JobsStorage & { close(): Promise<void> } {
  const jobs = new Map<string, { meta: JobMetadata; files: Map<string, Buffer> }>();
  const job = (jobId: string) => {
    const found = jobs.get(jobId);
    if (!found) throw new Error(`memory storage: no job ${jobId}`);
    return found;
  };
  const storage: Partial<JobsStorage> & { close(): Promise<void> } = {
    async createJob(input) {
      const jobId = input.jobId ?? randomUUID().replaceAll("-", "");
      const now = new Date();
      const meta: JobMetadata = {
        jobId,
        userId: input.userId ?? "anonymous",
        projectName: input.projectName,
        status: "generating",
        createdAt: now.toISOString(),
        expiresAt: new Date(now.getTime() + 48 * 3_600_000).toISOString(),
        filesCount: 0,
        totalSizeBytes: 0,
        zipReady: false,
      };
      jobs.set(jobId, { meta, files: new Map() });
      return { ...meta };
    },
    async getJob(jobId) {
      const found = jobs.get(jobId);
      return found && { ...found.meta };
    },
    async writeFile(jobId, path, content) {
      const { meta, files } = job(jobId);
      const bytes = typeof content === "string" ? Buffer.from(content) : Buffer.from(content);
      files.set(path, bytes);
      meta.filesCount = files.size;
      meta.totalSizeBytes += bytes.length;
      return { path, size: bytes.length };
    },
    async completeJob(jobId) {
      const { meta, files } = job(jobId);
      Object.assign(meta, { status: "complete", zipReady: true, zipSizeBytes: [...files.values()].reduce((n, b) => n + b.length, 0) });
      return { ...meta };
    },
    async openZip(jobId) {
      const { files } = job(jobId);
      const bytes = Buffer.concat([...files.values()]);
      return { stream: Readable.from([bytes]), size: bytes.length, fileName: "memory.zip", path: "/dev/null" };
    },
    async close() {
      jobs.clear();
    },
  };
  for (const name of ["listJobs", "writePlan", "readPlan", "writeFiles", "readFile", "deleteFile", "listFiles", "failJob", "extendJob", "deleteJob", "getStats", "cleanupExpired"] as const) {
    storage[name] = (): Promise<never> => Promise.reject(new Error(`memory storage: ${name} is not part of the HTTP scenario`));
  }
  return storage as JobsStorage & { close(): Promise<void> };
}
