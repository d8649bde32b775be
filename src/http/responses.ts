/**
 * JSON responses and the error-code to HTTP-status table of the REST API.
 * Every error body is `{ error: { code, message } }`; a message never holds an
 * absolute disk path or a stack trace.
 */
import type { JobStorageErrorCode } from "../errors.js";

/** Codes the HTTP layer adds to the {@link JobStorageErrorCode}s. */
export type HttpOnlyErrorCode =
  | "INVALID_JSON"
  | "UNAUTHORIZED"
  | "FORBIDDEN"
  | "ROUTE_NOT_FOUND"
  | "METHOD_NOT_ALLOWED"
  | "UNSUPPORTED_MEDIA_TYPE"
  | "PAYLOAD_TOO_LARGE"
  | "RANGE_NOT_SATISFIABLE"
  | "INTERNAL_ERROR";

/** Every `error.code` the REST API can answer. */
export type HttpErrorCode = JobStorageErrorCode | HttpOnlyErrorCode;

/** The body of every error response. */
export interface ErrorBody {
  error: { code: HttpErrorCode; message: string };
}

/**
 * The HTTP status of each error code. `STORAGE_FULL` is 507 (Insufficient Storage).
 */
export const HTTP_STATUS_BY_CODE: Readonly<Record<HttpErrorCode, number>> = Object.freeze({
  INVALID_JOB_ID: 400,
  INVALID_PATH: 400,
  INVALID_INPUT: 400,
  INVALID_JSON: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  JOB_NOT_FOUND: 404,
  FILE_NOT_FOUND: 404,
  FILE_EXISTS: 409,
  ROUTE_NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  JOB_EXISTS: 409,
  INVALID_STATE: 409,
  ZIP_NOT_READY: 409,
  JOB_EXPIRED: 410,
  FILE_TOO_LARGE: 413,
  PROJECT_TOO_LARGE: 413,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  RANGE_NOT_SATISFIABLE: 416,
  INTERNAL_ERROR: 500,
  STORAGE_FULL: 507,
});

/** The HTTP status for an error code (500 for a code it does not know). */
export function statusForErrorCode(code: string): number {
  return Object.hasOwn(HTTP_STATUS_BY_CODE, code) ? HTTP_STATUS_BY_CODE[code as HttpErrorCode] : 500;
}

/**
 * An error the handler answers as is: the status comes from the code.
 * @internal
 */
export class HttpError extends Error {
  override readonly name = "HttpError";
  readonly code: HttpErrorCode;
  readonly headers: Record<string, string>;

  constructor(code: HttpErrorCode, message: string, headers: Record<string, string> = {}) {
    super(message);
    this.code = code;
    this.headers = headers;
  }
}

const JSON_TYPE = "application/json; charset=utf-8";

/** A JSON response with `Content-Length` and `Cache-Control: no-store`. @internal */
export function jsonResponse(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  const text = JSON.stringify(body);
  return new Response(text, {
    status,
    headers: {
      "content-type": JSON_TYPE,
      "content-length": String(Buffer.byteLength(text, "utf8")),
      "cache-control": "no-store",
      "x-content-type-options": "nosniff",
      ...headers,
    },
  });
}

/** An error response `{ error: { code, message } }` with the code's status. @internal */
export function errorResponse(code: HttpErrorCode, message: string, headers: Record<string, string> = {}): Response {
  const body: ErrorBody = { error: { code, message } };
  return jsonResponse(body, statusForErrorCode(code), headers);
}
