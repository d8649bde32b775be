/**
 * Reading a request body with a size limit: the declared `Content-Length` is
 * checked first, then the stream is read and abandoned as soon as it passes
 * the limit, so an oversized upload is never held in memory.
 */
import { HttpError } from "./responses.js";

// Stateless between whole-buffer decode() calls, so one serves every request.
const UTF8 = new TextDecoder("utf-8", { fatal: true });

function tooLarge(limit: number): HttpError {
  return new HttpError("PAYLOAD_TOO_LARGE", `The request body is larger than ${limit} bytes`);
}

/** Whether a `Content-Type` value names JSON (`application/json`, `application/*+json`). */
export function isJsonContentType(value: string): boolean {
  const type = value.split(";", 1)[0]!.trim().toLowerCase();
  return type === "application/json" || (type.startsWith("application/") && type.endsWith("+json"));
}

/**
 * The body's bytes, at most `limit` of them.
 * @throws {HttpError} `PAYLOAD_TOO_LARGE` (413) past the limit; `INVALID_INPUT` when the body cannot be read.
 * @internal
 */
export async function readBodyBytes(request: Request, limit: number): Promise<Uint8Array> {
  const declared = request.headers.get("content-length");
  if (declared !== null && /^\d+$/.test(declared.trim()) && Number(declared) > limit) throw tooLarge(limit);
  if (request.body === null) return new Uint8Array(0);
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      let next: ReadableStreamReadResult<Uint8Array>;
      try {
        next = await reader.read();
      } catch (error) {
        throw Object.assign(new HttpError("INVALID_INPUT", "The request body could not be read"), { cause: error });
      }
      if (next.done) break;
      total += next.value.byteLength;
      if (total > limit) {
        await reader.cancel().catch(() => {});
        throw tooLarge(limit);
      }
      chunks.push(next.value);
    }
  } finally {
    reader.releaseLock();
  }
  if (chunks.length === 1) return chunks[0]!;
  const bytes = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return bytes;
}

/**
 * The body parsed as JSON, or `undefined` when it is empty and `optional`.
 * A `Content-Type` other than JSON is refused (415), so a cross-site HTML
 * form cannot post to the API; a missing `Content-Type` is accepted.
 *
 * @throws {HttpError} `UNSUPPORTED_MEDIA_TYPE`, `PAYLOAD_TOO_LARGE`, `INVALID_JSON`.
 * @internal
 */
export async function readJsonBody(request: Request, limit: number, optional = false): Promise<unknown> {
  const type = request.headers.get("content-type");
  if (type !== null && type.trim() !== "" && !isJsonContentType(type)) {
    throw new HttpError("UNSUPPORTED_MEDIA_TYPE", "The request body must be JSON (Content-Type: application/json)");
  }
  const bytes = await readBodyBytes(request, limit);
  if (bytes.byteLength === 0) {
    if (optional) return undefined;
    throw new HttpError("INVALID_JSON", "A JSON request body is required");
  }
  let text: string;
  try {
    text = UTF8.decode(bytes);
  } catch {
    throw new HttpError("INVALID_JSON", "The request body is not valid UTF-8");
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new HttpError("INVALID_JSON", "The request body is not valid JSON");
  }
}
