/**
 * Conditional and partial requests (RFC 9110 §13, §14): strong ETags from
 * SHA-256s, `If-None-Match` -> 304, and `Range` / `If-Range` for the
 * download, parsed by jshttp's `range-parser`.
 * @internal
 */
import parseRange from "range-parser";

/** A strong entity tag for content whose SHA-256 is `sha256` (hex). */
export function strongEtag(sha256: string): string {
  return `"${sha256}"`;
}

/**
 * Whether `If-None-Match` matches `etag`, so the answer is 304. Uses the
 * weak comparison RFC 9110 §13.1.2 prescribes (a `W/` prefix is ignored);
 * `*` matches any current representation.
 */
export function ifNoneMatchHits(request: Request, etag: string): boolean {
  const header = request.headers.get("if-none-match");
  if (header === null) return false;
  if (header.trim() === "*") return true;
  return header
    .split(",")
    .map((tag) => tag.trim().replace(/^W\//, ""))
    .includes(etag);
}

/** What to answer to a download request of `size` bytes. */
export type RangeDecision =
  | { kind: "full" }
  | { kind: "partial"; start: number; end: number }
  | { kind: "unsatisfiable" };

/**
 * Decides between the whole body (no usable `Range`, a stale `If-Range`,
 * several ranges), one range (206) and 416. `If-Range` is compared strongly
 * with `etag`; a date there, or a missing `etag`, means "send it all", which
 * RFC 9110 §13.1.5 allows. A malformed or non-`bytes` `Range` is ignored.
 */
export function decideRange(request: Request, size: number, etag: string | undefined): RangeDecision {
  const header = request.headers.get("range");
  if (header === null) return { kind: "full" };
  const ifRange = request.headers.get("if-range");
  if (ifRange !== null && (etag === undefined || ifRange.trim() !== etag)) return { kind: "full" };
  const ranges = parseRange(size, header, { combine: true });
  if (ranges === -1) return { kind: "unsatisfiable" };
  if (ranges === -2 || ranges.type !== "bytes") return { kind: "full" };
  // Several disjoint ranges: the whole body rather than multipart/byteranges.
  if (ranges.length !== 1) return { kind: "full" };
  const [range] = ranges;
  return { kind: "partial", start: range!.start, end: range!.end };
}
