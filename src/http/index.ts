/**
 * `ephemeral-jobs/http`: the REST API of the original design guide as a
 * web-standard `Request -> Response` handler, an adapter for Express,
 * Connect and `node:http`, and a Fastify plugin.
 * @packageDocumentation
 */
export {
  createJobsHandler,
  type JobsAuth,
  type JobsHandler,
  type JobsHandlerOptions,
  type JobsStorage,
} from "./handler.js";
export { contentDisposition } from "../headers/content-disposition.js";
export { toNodeHandler, type NodeHandler, type NodeHandlerOptions } from "./node-adapter.js";
export { toFastifyPlugin, type FastifyPluginOptions } from "./fastify-plugin.js";
export {
  HTTP_STATUS_BY_CODE,
  statusForErrorCode,
  type ErrorBody,
  type HttpErrorCode,
  type HttpOnlyErrorCode,
} from "./responses.js";
export {
  CreateJobBodySchema,
  ExtendJobBodySchema,
  FailJobBodySchema,
  FileBatchBodySchema,
  FileBodySchema,
  MoveFileBodySchema,
  PlanBodySchema,
  type CreateJobBody,
  type FileBatchBody,
  type FileBody,
  type MoveFileBody,
} from "./schemas.js";
export {
  serializeJob,
  serializeFile,
  serializeStats,
  serializeWriteFiles,
  serializeCleanup,
  serializeWriteFile,
  serializeMove,
  serializeProgress,
  serializeChange,
  toMb,
  type ChangeJson,
  type CleanupJson,
  type FileJson,
  type JobJson,
  type MoveFileJson,
  type ProgressJson,
  type StatsJson,
  type WriteFileJson,
  type WriteFilesEntryJson,
  type WriteFilesJson,
} from "./serialize.js";
