/**
 * `ephemeral-jobs/s3`: send finished ZIPs to S3 or any S3-compatible store
 * (MinIO, Cloudflare R2, Backblaze B2, ...) with a streaming multipart upload.
 *
 * Needs the optional peer dependencies `@aws-sdk/client-s3` and
 * `@aws-sdk/lib-storage`. The core of the package never imports them.
 * @module
 */
import type { S3Client } from "@aws-sdk/client-s3";
import { JobStorageError } from "../errors.js";
import type { ZipUploader } from "../manager/types.js";
import { contentDisposition } from "../headers/content-disposition.js";
import { loadLibStorage, type LibStorageImporter } from "./load.js";

const MIB = 1024 * 1024;
/** The smallest part S3 accepts (except for the last one). */
export const MIN_PART_SIZE_BYTES = 5 * MIB;
/** S3's largest part. */
export const MAX_PART_SIZE_BYTES = 5 * 1024 * MIB;

/** Progress of one upload, as reported to {@link S3UploaderOptions.onProgress}. */
export interface S3UploadProgress {
  jobId: string;
  /** Bytes sent so far. */
  loadedBytes: number;
  /** Size of the ZIP. */
  totalBytes: number;
  /** The part that just progressed (1-based; 1 for a single-request upload). */
  part: number | undefined;
}

/** Options of {@link s3Uploader}. */
export interface S3UploaderOptions {
  /** The client to send with (region, credentials, endpoint, `forcePathStyle` are its own). */
  client: S3Client;
  /** The bucket. Must exist. */
  bucket: string;
  /**
   * A key prefix such as `"projects"` or `"exports/2026"`. Trailing slashes are dropped
   * and one `/` is added. @default "" (the key is `<jobId>.zip`)
   */
  prefix?: string;
  /**
   * Size of each part of the multipart upload, at least 5 MiB (S3's minimum).
   * A ZIP no larger than one part goes in a single `PutObject`.
   * @default 5 MiB (5_242_880), raised as needed to stay within S3's 10,000 parts
   */
  partSizeBytes?: number;
  /**
   * Parts uploaded in parallel. Memory use is at most `queueSize * partSizeBytes`.
   * @default 4
   */
  queueSize?: number;
  /** Called as bytes are sent (after each part, and more often where the HTTP handler reports it). */
  onProgress?: (progress: S3UploadProgress) => void;
}

/** Test hook: how `@aws-sdk/lib-storage` is imported. */
interface S3UploaderInternalOptions {
  importLibStorage?: LibStorageImporter;
}

function invalid(option: string, expected: string, got: unknown): JobStorageError {
  const shown = typeof got === "string" ? JSON.stringify(got) : typeof got === "number" ? String(got) : typeof got;
  return new JobStorageError("INVALID_INPUT", `s3Uploader option "${option}" must be ${expected}, got ${shown}`);
}

function checkOptions(options: S3UploaderOptions): void {
  if (typeof options !== "object" || options === null) {
    throw new JobStorageError("INVALID_INPUT", "s3Uploader options must be an object with at least client and bucket");
  }
  const { client, bucket, prefix, partSizeBytes, queueSize, onProgress } = options;
  if (typeof client !== "object" || client === null || typeof (client as { send?: unknown }).send !== "function") {
    throw invalid("client", "an S3Client from @aws-sdk/client-s3", client);
  }
  if (typeof bucket !== "string" || bucket.trim() === "" || bucket !== bucket.trim() || bucket.includes("/")) {
    throw invalid("bucket", "a non-empty bucket name without spaces or '/'", bucket);
  }
  if (prefix !== undefined && typeof prefix !== "string") throw invalid("prefix", "a string", prefix);
  if (prefix !== undefined && prefix.startsWith("/")) throw invalid("prefix", "a key prefix not starting with '/'", prefix);
  if (
    partSizeBytes !== undefined &&
    (typeof partSizeBytes !== "number" ||
      !Number.isSafeInteger(partSizeBytes) ||
      partSizeBytes < MIN_PART_SIZE_BYTES ||
      partSizeBytes > MAX_PART_SIZE_BYTES)
  ) {
    throw invalid("partSizeBytes", `an integer from ${MIN_PART_SIZE_BYTES} (5 MiB) to ${MAX_PART_SIZE_BYTES} (5 GiB)`, partSizeBytes);
  }
  if (queueSize !== undefined && (typeof queueSize !== "number" || !Number.isSafeInteger(queueSize) || queueSize < 1 || queueSize > 64)) {
    throw invalid("queueSize", "an integer from 1 to 64", queueSize);
  }
  if (onProgress !== undefined && typeof onProgress !== "function") throw invalid("onProgress", "a function", onProgress);
}

/** The object key of a job's ZIP: `<prefix>/<jobId>.zip`, or `<jobId>.zip` without a prefix. */
export function s3KeyFor(jobId: string, prefix?: string): string {
  const trimmed = prefix?.replace(/\/+$/, "") ?? "";
  return `${trimmed === "" ? "" : `${trimmed}/`}${jobId}.zip`;
}

/**
 * A {@link ZipUploader} that streams a job's ZIP to S3 with a multipart
 * upload (`Upload` from `@aws-sdk/lib-storage`): the ZIP is read part by part,
 * never whole into memory. The object gets `Content-Type: application/zip`,
 * its `Content-Length`, and a `Content-Disposition` that downloads it under the
 * project's name. Resolves to `{ url: "s3://<bucket>/<key>" }`, which
 * `storage.uploadZip()` stores as the job's `s3Url`.
 *
 * On failure the multipart upload is aborted (no orphaned parts are left
 * billed) and the SDK's error is thrown; the job's `s3Url` stays as it was.
 *
 * @throws {JobStorageError} `INVALID_INPUT` at once for a bad option, naming it;
 * `INVALID_STATE` at upload time when `@aws-sdk/lib-storage` is not installed.
 * @example
 * ```ts
 * import { S3Client } from "@aws-sdk/client-s3";
 * import { s3Uploader } from "ephemeral-jobs/s3";
 *
 * const uploader = s3Uploader({ client: new S3Client({ region: "eu-west-1" }), bucket: "my-artifacts", prefix: "projects" });
 * await storage.completeJob(jobId);
 * const job = await storage.uploadZip(jobId, uploader);
 * job.s3Url; // "s3://my-artifacts/projects/<jobId>.zip"
 * ```
 */
export function s3Uploader(options: S3UploaderOptions): ZipUploader {
  checkOptions(options);
  const { client, bucket, prefix, partSizeBytes, queueSize = 4, onProgress } = options;
  const importer = (options as S3UploaderInternalOptions).importLibStorage;
  const uploader: ZipUploader = {
    async upload({ jobId, fileName, stream, size, contentType }): Promise<{ url: string }> {
      const { Upload } = await loadLibStorage(importer);
      const key = s3KeyFor(jobId, prefix);
      const upload = new Upload({
        client,
        queueSize,
        // Set explicitly: lib-storage's own default (5 MiB, raised past 10,000 parts) is the same rule.
        partSize: partSizeBytes ?? Math.max(MIN_PART_SIZE_BYTES, Math.ceil(size / 10_000)),
        leavePartsOnError: false,
        params: {
          Bucket: bucket,
          Key: key,
          Body: stream,
          ContentLength: size,
          ContentType: contentType || "application/zip",
          ContentDisposition: contentDisposition(fileName),
        },
      });
      if (onProgress) {
        upload.on("httpUploadProgress", (progress) => {
          onProgress({ jobId, loadedBytes: progress.loaded ?? 0, totalBytes: progress.total ?? size, part: progress.part });
        });
      }
      await upload.done();
      return { url: `s3://${bucket}/${key}` };
    },
  };
  return Object.freeze(uploader);
}
