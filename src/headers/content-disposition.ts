/**
 * HTTP header values shared by the core's callers (the REST handler, the S3
 * uploader, a host's own download route): a bottom-layer module, so neither
 * `zip/` nor `http/` has to import the other for it.
 * @module
 */
/** The name used when `fileName` has nothing usable left. */
const FALLBACK_NAME = "download.zip";

// C0 and C1 controls, DEL, and the Unicode line and paragraph separators.
// eslint-disable-next-line no-control-regex
const CONTROL_CHARS = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;
// A lone (unpaired) UTF-16 surrogate, which has no UTF-8 encoding.
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
// RFC 5987 attr-char, the characters that may appear unencoded in `filename*`.
const ATTR_CHAR = /^[A-Za-z0-9!#$&+.^_`|~-]$/;
// Printable ASCII that is safe inside the quoted `filename`: not `"`, `\`, `%` or `/`
// (checked after NFKD, which turns a fullwidth solidus or quote into the ASCII one).
const QUOTED_SAFE_CHAR = /^[\x20-\x21\x23-\x24\x26-\x2e\x30-\x5b\x5d-\x7e]$/;

/**
 * A `Content-Disposition` header value that makes a browser download the
 * response as `fileName`, safe for any input (RFC 6266, RFC 5987):
 *
 * - control characters (CR, LF, TAB, NUL, ...), `/` and `\` become `_`, so the
 *   value can never break out of its header (no header injection) nor carry a path;
 * - `filename="..."` is an ASCII fallback: accents are dropped (`é` -> `e`),
 *   other non-ASCII characters, `"` and `%` become `_`;
 * - `filename*=UTF-8''...` with the percent-encoded UTF-8 name is added when
 *   the fallback differs from the name;
 * - a name that is empty or blank after this becomes `download.zip`.
 *
 * The result is printable ASCII only.
 *
 * @param fileName The name the download should get, such as a project name plus `.zip`.
 * @returns A header value starting with `attachment`.
 * @throws Never: any string (lone surrogates included) gives a safe value.
 * @example
 * ```ts
 * contentDisposition("report.zip");
 * // 'attachment; filename="report.zip"'
 * contentDisposition('проект "x".zip');
 * // `attachment; filename="______ _x_.zip"; filename*=UTF-8''%D0%BF%D1%80%D0%BE%D0%B5%D0%BA%D1%82%20%22x%22.zip`
 * ```
 */
export function contentDisposition(fileName: string): string {
  const name = sanitizeFileName(typeof fileName === "string" ? fileName : "");
  const fallback = asciiFallback(name);
  if (fallback === name) return `attachment; filename="${fallback}"`;
  return `attachment; filename="${fallback}"; filename*=UTF-8''${encodeRfc5987(name)}`;
}

function sanitizeFileName(fileName: string): string {
  const cleaned = fileName.replace(LONE_SURROGATE, "\ufffd").replace(CONTROL_CHARS, "_").replace(/[/\\]/g, "_").trim();
  return cleaned === "" || /^[_.\s]*$/.test(cleaned) ? FALLBACK_NAME : cleaned;
}

function asciiFallback(name: string): string {
  let result = "";
  // Decompose, so that "é" is "e" plus a combining accent, which is dropped.
  for (const char of name.normalize("NFKD")) {
    if (/^\p{M}$/u.test(char)) continue;
    result += QUOTED_SAFE_CHAR.test(char) ? char : "_";
  }
  return result;
}

function encodeRfc5987(name: string): string {
  let result = "";
  for (const char of name) {
    if (ATTR_CHAR.test(char)) {
      result += char;
    } else {
      for (const byte of Buffer.from(char, "utf8")) result += `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
    }
  }
  return result;
}
