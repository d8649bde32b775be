/**
 * A host that generates a job on local disk, completes it, and sends the ZIP
 * to S3 (or any S3-compatible store: MinIO, Cloudflare R2, ...) with a
 * streaming multipart upload.
 *
 *   S3_BUCKET=my-artifacts npx tsx examples/s3-upload.ts
 *   S3_BUCKET=jobs S3_ENDPOINT=http://127.0.0.1:9000 S3_FORCE_PATH_STYLE=1 \
 *     AWS_ACCESS_KEY_ID=minioadmin AWS_SECRET_ACCESS_KEY=minioadmin npx tsx examples/s3-upload.ts
 *
 * Environment: S3_BUCKET (required), S3_PREFIX (default "projects"), S3_ENDPOINT,
 * S3_REGION (else AWS_REGION, else us-east-1), S3_FORCE_PATH_STYLE=1 for most
 * self-hosted stores; credentials come from the AWS SDK's usual chain.
 */
import { S3Client } from "@aws-sdk/client-s3";
import { JobStorageManager, loadOptionsFromEnv, manualScheduler } from "../src/index.js";
import { s3Uploader } from "../src/s3/index.js";

const bucket = process.env.S3_BUCKET;
if (!bucket) {
  console.error("Set S3_BUCKET (and S3_ENDPOINT for an S3-compatible store).");
  process.exit(2);
}

const client = new S3Client({
  region: process.env.S3_REGION ?? process.env.AWS_REGION ?? "us-east-1",
  ...(process.env.S3_ENDPOINT ? { endpoint: process.env.S3_ENDPOINT } : {}),
  forcePathStyle: process.env.S3_FORCE_PATH_STYLE === "1",
});
// One uploader for the whole process; it holds no per-job state.
const uploader = s3Uploader({
  client,
  bucket,
  prefix: process.env.S3_PREFIX ?? "projects",
  onProgress: ({ jobId, loadedBytes, totalBytes }) => console.log(`upload ${jobId}: ${loadedBytes}/${totalBytes} bytes`),
});

await using storage = await JobStorageManager.open({ ...loadOptionsFromEnv(), scheduler: manualScheduler() });
try {
  const job = await storage.createJob({ projectName: "s3-example", userId: "example" });
  await storage.writeFiles(job.jobId, [
    { path: "package.json", content: `${JSON.stringify({ name: "s3-example", private: true }, null, 2)}\n` },
    { path: "src/index.ts", content: 'console.log("generated on local disk, delivered from S3");\n' },
  ]);
  await storage.completeJob(job.jobId);

  // The ZIP is streamed from local disk; s3Url is stored only once the upload succeeded.
  const uploaded = await storage.uploadZip(job.jobId, uploader);
  console.log(`uploaded ${uploaded.zipSizeBytes} bytes to ${uploaded.s3Url}`);

  // The local copy is no longer needed once the artifact is in S3 (keep s3Url in your own database).
  await storage.deleteJob(job.jobId);
} finally {
  client.destroy();
}
