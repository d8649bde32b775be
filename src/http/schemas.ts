/**
 * zod schemas of the REST API's request bodies (snake_case, as in the
 * original design guide). They check the shape of the JSON; the values are
 * then validated again by the core schemas (`CreateJobInputSchema`,
 * `FileInputSchema`, `FileBatchSchema`, `PlanSchema`), the same ones the
 * manager uses.
 */
import { z } from "zod";
import { PlanSchema, type Plan } from "../schemas.js";

/** Body of `POST /create`: `{ project_name, job_id?, ttl_hours? }`. */
export const CreateJobBodySchema = z.object({
  project_name: z.string(),
  job_id: z.string().nullish(),
  ttl_hours: z.number().nullish(),
});
/** Body of `POST /create`. */
export type CreateJobBody = z.infer<typeof CreateJobBodySchema>;

// Standard base64 with padding, as Python's base64.b64encode and Buffer#toString("base64") write it.
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * One file of `POST /{id}/files` or of a batch: `{ path, content, executable?, encoding? }`.
 * With `encoding: "base64"`, `content` is the base64 of the bytes (for binary files).
 */
export const FileBodySchema = z
  .object({
    path: z.string(),
    content: z.string(),
    executable: z.boolean().nullish(),
    encoding: z.enum(["utf8", "utf-8", "base64"]).nullish(),
  })
  .refine((file) => file.encoding !== "base64" || BASE64.test(file.content), {
    message: "content is not valid base64",
    path: ["content"],
  });
/** One file of a write. */
export type FileBody = z.infer<typeof FileBodySchema>;

/** Body of `POST /{id}/files/batch`: a JSON array of files, or `{ files: [...] }`. */
export const FileBatchBodySchema = z.union([z.array(FileBodySchema), z.object({ files: z.array(FileBodySchema) })]);
/** Body of `POST /{id}/files/batch`. */
export type FileBatchBody = z.infer<typeof FileBatchBodySchema>;

/** Body of `POST /{id}/plan`: the core {@link PlanSchema} as is. */
export const PlanBodySchema: z.ZodType<Plan> = PlanSchema;

/** Optional body of `POST /{id}/fail` (the guide passes `?error_message=` instead). */
export const FailJobBodySchema = z.object({ error_message: z.string() });

/** Body of `POST /{id}/extend`: `{ ttl_hours }`. */
export const ExtendJobBodySchema = z.object({ ttl_hours: z.number() });

/** Body of `POST /{id}/files/move`: `{ from, to, overwrite? }`. */
export const MoveFileBodySchema = z.object({
  from: z.string(),
  to: z.string(),
  overwrite: z.boolean().nullish(),
});
/** Body of `POST /{id}/files/move`. */
export type MoveFileBody = z.infer<typeof MoveFileBodySchema>;
