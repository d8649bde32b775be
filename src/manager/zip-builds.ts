/**
 * ZIP builds: one per job however many callers ask (in this process, a
 * shared promise; across processes, a builder recorded in the index whose
 * liveness the others check), opening the finished ZIP for a download, and
 * handing it to an uploader.
 */
import fsSync from "node:fs";
import fs, { type FileHandle } from "node:fs/promises";
import type { Readable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { JobStorageError, errnoCode } from "../errors.js";
import { assertNotExpired, requireJob, transact, type StorageContext } from "./context.js";
import { mapDiskFull, removeFile } from "./fs-utils.js";
import type { IndexedJob } from "./index-db.js";
import { readFileOnDisk } from "./job-files.js";
import { changeRecord } from "./lifecycle.js";
import { ZIP_SUFFIX } from "./layout.js";
import { settleForeignIntents } from "./maintenance.js";
import { toMetadata } from "./record.js";
import { writeStatusFile } from "./status-file.js";
import type { JobMetadata, ZipHandle, ZipUploader } from "./types.js";

/** How often a process waiting on another's build or writes looks at the index again. */
const POLL_MS = 5;
/** A build in another process is waited for at most this long. */
const MAX_WAIT_MS = 30 * 60_000;

/** A download name for a project: no separators or control characters. */
function zipFileName(projectName: string): string {
  // eslint-disable-next-line no-control-regex
  const cleaned = projectName.replace(/[/\\\u0000-\u001f\u007f-\u009f]+/g, "_").trim().slice(0, 150);
  return `${cleaned === "" ? "project" : cleaned}${ZIP_SUFFIX}`;
}

async function fileExists(file: string): Promise<boolean> {
  try {
    return (await fs.lstat(file)).isFile();
  } catch (error) {
    if (errnoCode(error) === "ENOENT") return false;
    throw error;
  }
}

/** A {@link ZipHandle} over an open file: its one stream, whole or a range, is made when asked for. */
function openedZip(handle: FileHandle, size: number, fileName: string, zipPath: string): ZipHandle {
  let made: Readable | undefined;
  const make = (range?: { start: number; end: number }): Readable => {
    if (made !== undefined) throw new JobStorageError("INVALID_STATE", "This ZIP handle's stream was already taken", {});
    made = handle.createReadStream(range); // closes the file when it ends or is destroyed
    return made;
  };
  return {
    get stream() {
      return made ?? make();
    },
    size,
    fileName,
    path: zipPath,
    readRange: (start, end) => {
      if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end < start || end >= size) {
        throw new JobStorageError("INVALID_INPUT", `No range ${start}-${end} in a ZIP of ${size} bytes`, {});
      }
      return make({ start, end });
    },
  };
}

export class ZipBuilds {
  readonly #context: StorageContext;
  readonly #builds = new Map<string, Promise<JobMetadata>>();

  constructor(context: StorageContext) {
    this.#context = context;
  }

  /** The build of `jobId` in flight in this process, if any. */
  inFlight(jobId: string): Promise<JobMetadata> | undefined {
    return this.#builds.get(jobId);
  }

  /** Starts the job's build, or joins the one in flight. */
  complete(jobId: string): Promise<JobMetadata> {
    let build = this.#builds.get(jobId);
    if (!build) {
      const started = this.#build(jobId);
      const forget = (): void => {
        if (this.#builds.get(jobId) === started) this.#builds.delete(jobId);
      };
      started.then(forget, forget);
      this.#builds.set(jobId, started);
      build = started;
    }
    return build;
  }

  async #build(jobId: string): Promise<JobMetadata> {
    const context = this.#context;
    const { index, owners } = context;
    const layout = context.layout(jobId);
    const started = Date.now();
    // Claim the build: complete the job (no write is accepted from here on) and name this process its builder.
    for (;;) {
      let state = "claimed" as "done" | "wait" | "claimed";
      const claimed = await changeRecord(context, jobId, (record) => {
        assertNotExpired(record, context.now());
        if (record.status === "failed") {
          throw new JobStorageError("INVALID_STATE", `Job "${jobId}" has failed and cannot be completed`, { jobId });
        }
        if (record.status === "complete" && record.zipReady) {
          state = "done";
          return undefined;
        }
        if (record.zipBuilder !== undefined && record.zipBuilder !== owners.id && owners.isAlive(record.zipBuilder)) {
          state = "wait";
          return undefined;
        }
        return { ...record, status: "complete", zipReady: false, zipBuilder: owners.id };
      }, { quiet: true });
      if (state === "done") {
        if (await fileExists(layout.zip)) return toMetadata(claimed, context.now());
        // The ZIP was removed by hand: build it again.
        transact(context, () => index.updateJob({ ...requireJob(context, jobId), zipReady: false, zipBuilder: undefined }));
        continue;
      }
      if (state === "claimed") break;
      if (Date.now() - started > MAX_WAIT_MS) throw new JobStorageError("INVALID_STATE", `Timed out waiting for the ZIP of "${jobId}"`, { jobId });
      await sleep(POLL_MS);
    }

    try {
      await this.#waitForWrites(jobId);
      let result;
      try {
        result = await context.zipBuilder(layout.files, layout.zip, {
          compressionLevel: context.options.zipCompressionLevel,
          onProgress: (progress) => context.notify("zip:progress", { jobId, progress }),
        });
      } catch (error) {
        throw mapDiskFull(error, { jobId });
      }
      // The ZIP's hash is its download's strong ETag: read back while the pages are still cached.
      const zipSha256 = (await readFileOnDisk(layout.zip))?.sha256;
      const url = context.options.downloadUrl?.(jobId);
      let record: IndexedJob;
      try {
        // job.json first: a ZIP is recorded as ready on disk and in the index, or not at all.
        const ready: IndexedJob = { ...requireJob(context, jobId), zipReady: true, zipSizeBytes: result.sizeBytes, zipSha256, zipBuilder: undefined };
        if (url !== undefined) ready.downloadUrl = url;
        const size = await writeStatusFile(context, ready).catch((error: unknown) => {
          throw mapDiskFull(error, { jobId });
        });
        record = transact(
          context,
          () => {
            const next: IndexedJob = { ...requireJob(context, jobId), zipReady: true, zipSizeBytes: result.sizeBytes, zipSha256, zipBuilder: undefined, recordSizeBytes: size };
            if (url !== undefined) next.downloadUrl = url;
            index.updateJob(next);
            // The feed hears "complete" once the ZIP is ready, so a page can offer the download.
            index.addChange({ jobId, type: "job:status", status: "complete", at: context.now().toISOString() });
            return next;
          },
          { jobId },
        );
      } catch (error) {
        // Not recorded as ready (a full disk, say): do not leave a ZIP taking the space
        // that is short, unaccounted for. The next completeJob builds it again.
        await removeFile(layout.zip);
        throw error;
      }
      const metadata = toMetadata(record, context.now());
      context.notify("job:completed", { jobId, job: metadata });
      return metadata;
    } catch (error) {
      try {
        transact(context, () => {
          const current = index.getJob(jobId);
          if (current?.zipBuilder === owners.id) index.updateJob({ ...current, zipBuilder: undefined });
        });
      } catch (releaseError) {
        context.logger.warn({ err: releaseError, jobId }, "could not release a failed ZIP build");
      }
      // Deleted while it was being zipped (deleteJob in this process or another): no ZIP
      // stays behind for a job that is gone, and the caller hears JOB_NOT_FOUND.
      const gone = (): JobStorageError =>
        new JobStorageError("JOB_NOT_FOUND", `Job "${jobId}" was deleted while its ZIP was being built`, { jobId, cause: error });
      if (!index.hasJob(jobId)) {
        await removeFile(layout.zip).catch(() => {});
        throw gone();
      }
      // Its directory already moved out of sight, its row not yet dropped: a deleteJob is
      // between the two, and decides about the ZIP itself (keepZip).
      if (errnoCode(error) === "ENOENT" && !fsSync.existsSync(layout.dir)) throw gone();
      throw error;
    }
  }

  /** Waits until no write to the job is in flight, in this process or a live other one. */
  async #waitForWrites(jobId: string): Promise<void> {
    const context = this.#context;
    const own = context.writesInFlight.get(jobId);
    if (own) await Promise.allSettled([...own]);
    const started = Date.now();
    for (;;) {
      await settleForeignIntents(context, jobId);
      const pending = context.index
        .foreignIntents(context.owners.id, jobId)
        .filter((intent) => intent.kind === "file" || intent.kind === "delete" || intent.kind === "move");
      if (pending.length === 0) return;
      if (Date.now() - started > MAX_WAIT_MS) throw new JobStorageError("INVALID_STATE", `Timed out waiting for writes to "${jobId}"`, { jobId });
      await sleep(POLL_MS);
    }
  }

  /** Opens the finished ZIP; waits for a build in flight in this process (even an unawaited one). */
  async open(jobId: string): Promise<ZipHandle> {
    const context = this.#context;
    const layout = context.layout(jobId);
    const pending = this.#builds.get(jobId);
    if (pending) await pending;
    for (let attempt = 0; ; attempt += 1) {
      const record = requireJob(context, jobId);
      assertNotExpired(record, context.now());
      if (record.status !== "complete") {
        throw new JobStorageError("ZIP_NOT_READY", `Job "${jobId}" is ${record.status}; its ZIP is not ready`, { jobId });
      }
      if (!record.zipReady) await this.complete(jobId);
      try {
        // Opened first, so a cleanup that removes the file meanwhile cannot cut the download short.
        const handle = await fs.open(layout.zip, "r");
        let size: number;
        try {
          ({ size } = await handle.stat());
        } catch (error) {
          await handle.close();
          throw error;
        }
        return openedZip(handle, size, zipFileName(record.projectName), layout.zip);
      } catch (error) {
        // The ZIP was removed by hand: build it again, once.
        if (errnoCode(error) !== "ENOENT" || attempt > 0) throw error;
        await this.complete(jobId);
      }
    }
  }

  /** Hands the ZIP to `uploader` and stores the URL it returns as `s3Url`. */
  async upload(jobId: string, uploader: ZipUploader): Promise<JobMetadata> {
    const zip = await this.open(jobId);
    let url: string;
    try {
      ({ url } = await uploader.upload({ jobId, fileName: zip.fileName, stream: zip.stream, size: zip.size, contentType: "application/zip" }));
    } finally {
      zip.stream.destroy();
    }
    const record = await changeRecord(this.#context, jobId, (current) => ({ ...current, s3Url: url }));
    return toMetadata(record, this.#context.now());
  }
}

