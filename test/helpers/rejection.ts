import { isJobStorageError, type JobStorageError } from "../../src/index.js";

/** The `JobStorageError` that `promise` rejects with; any other outcome throws. */
export async function rejection(promise: Promise<unknown>): Promise<JobStorageError> {
  const error = await promise.then(
    () => new Error("expected a rejection, got a result"),
    (e: unknown) => e,
  );
  if (!isJobStorageError(error)) throw error;
  return error;
}
