/**
 * Loads `@aws-sdk/lib-storage` at run time: it is an optional peer
 * dependency, so a host that never uploads to S3 does not need it.
 */
import type { Upload } from "@aws-sdk/lib-storage";
import { JobStorageError, errnoCode } from "../errors.js";

/** The part of `@aws-sdk/lib-storage` the uploader uses. */
export interface LibStorage {
  Upload: typeof Upload;
}

/** How the module is imported; replaceable in tests. @internal */
export type LibStorageImporter = () => Promise<LibStorage>;

const importLibStorage: LibStorageImporter = () => import("@aws-sdk/lib-storage");

let cached: Promise<LibStorage> | undefined;

/** Whether `error` says that the module `name` itself (not one of its own imports) is not installed. */
export function isMissingModule(error: unknown, name: string): boolean {
  const code = errnoCode(error);
  if (code !== "ERR_MODULE_NOT_FOUND" && code !== "MODULE_NOT_FOUND") return false;
  const message = error instanceof Error ? error.message : "";
  return message.includes(`'${name}'`) || message.includes(`"${name}"`);
}

/**
 * `@aws-sdk/lib-storage`, imported once.
 *
 * @throws {JobStorageError} `INVALID_STATE` when it is not installed, saying what to install.
 * @internal
 */
export function loadLibStorage(importer: LibStorageImporter = importLibStorage): Promise<LibStorage> {
  if (importer !== importLibStorage) return load(importer);
  cached ??= load(importer).catch((error: unknown) => {
    cached = undefined; // installed later (a long-running dev server): try again next time
    throw error;
  });
  return cached;
}

async function load(importer: LibStorageImporter): Promise<LibStorage> {
  try {
    const module = await importer();
    if (typeof module.Upload !== "function") throw new TypeError("@aws-sdk/lib-storage has no Upload export");
    return module;
  } catch (error) {
    if (isMissingModule(error, "@aws-sdk/lib-storage")) {
      throw new JobStorageError(
        "INVALID_STATE",
        'ephemeral-jobs/s3 needs the optional peer dependency "@aws-sdk/lib-storage": ' +
          "run `npm install @aws-sdk/client-s3 @aws-sdk/lib-storage`",
        { cause: error },
      );
    }
    throw error;
  }
}
