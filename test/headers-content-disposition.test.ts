import { execFile } from "node:child_process";
import { promisify } from "node:util";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { contentDisposition } from "../src/headers/content-disposition.js";
import * as core from "../src/index.js";
import * as http from "../src/http/index.js";
import * as zip from "../src/zip/index.js";

const execFileAsync = promisify(execFile);

interface PythonReading {
  /** Header count: an injected header would make two. */
  headers: number;
  disposition: string;
  /** The plain `filename` parameter. */
  fallback: string | null;
  /** The RFC 2231/5987 `filename*` parameter, decoded; null when absent. */
  extended: string | null;
}

/**
 * Parses `Content-Disposition: <value>` with Python's email package, an
 * independent RFC 2231/5987 implementation.
 */
async function parseWithPython(values: string[]): Promise<PythonReading[]> {
  const script = `
import json, sys, email, email.utils
out = []
for value in json.loads(sys.stdin.read()):
    msg = email.message_from_string("Content-Disposition: " + value + "\\r\\n\\r\\nbody")
    params = msg.get_params(header="content-disposition")
    plain = [v for k, v in params[1:] if k == "filename" and isinstance(v, str)]
    extended = [email.utils.collapse_rfc2231_value(v) for k, v in params[1:] if k == "filename" and isinstance(v, tuple)]
    out.append({
        "headers": len(msg.keys()),
        "disposition": params[0][0],
        "fallback": plain[0] if plain else None,
        "extended": extended[0] if extended else None,
    })
print(json.dumps(out))
`;
  const child = execFileAsync("python3", ["-c", script]);
  child.child.stdin!.end(JSON.stringify(values));
  return JSON.parse((await child).stdout) as PythonReading[];
}

const PRINTABLE_ASCII = /^[\x20-\x7e]+$/;

const CASES: { name: string; input: string; header: string; fallback: string; decoded: string }[] = [
  { name: "a plain name", input: "report.zip", header: 'attachment; filename="report.zip"', fallback: "report.zip", decoded: "report.zip" },
  {
    name: "quotes",
    input: 'my "best" project.zip',
    header: `attachment; filename="my _best_ project.zip"; filename*=UTF-8''my%20%22best%22%20project.zip`,
    fallback: "my _best_ project.zip",
    decoded: 'my "best" project.zip',
  },
  {
    name: "Cyrillic, quotes and a CR/LF header injection",
    input: 'проект "x"\r\nSet-Cookie: a.zip',
    header:
      `attachment; filename="______ _x___Set-Cookie: a.zip"; ` +
      `filename*=UTF-8''%D0%BF%D1%80%D0%BE%D0%B5%D0%BA%D1%82%20%22x%22__Set-Cookie%3A%20a.zip`,
    fallback: "______ _x___Set-Cookie: a.zip",
    decoded: 'проект "x"__Set-Cookie: a.zip',
  },
  {
    name: "an emoji",
    input: "🚀 launch.zip",
    header: `attachment; filename="_ launch.zip"; filename*=UTF-8''%F0%9F%9A%80%20launch.zip`,
    fallback: "_ launch.zip",
    decoded: "🚀 launch.zip",
  },
  {
    name: "accents",
    input: "café.zip",
    header: `attachment; filename="cafe.zip"; filename*=UTF-8''caf%C3%A9.zip`,
    fallback: "cafe.zip",
    decoded: "café.zip",
  },
  {
    name: "path separators and a backslash",
    input: "../..\\etc/passwd",
    header: `attachment; filename=".._.._etc_passwd"`,
    fallback: ".._.._etc_passwd",
    decoded: ".._.._etc_passwd",
  },
  {
    name: "a percent sign",
    input: "100%.zip",
    header: `attachment; filename="100_.zip"; filename*=UTF-8''100%25.zip`,
    fallback: "100_.zip",
    decoded: "100%.zip",
  },
  { name: "an empty name", input: "", header: 'attachment; filename="download.zip"', fallback: "download.zip", decoded: "download.zip" },
  { name: "only blanks", input: "  \t ", header: 'attachment; filename="download.zip"', fallback: "download.zip", decoded: "download.zip" },
  { name: "only a line break", input: "\r\n", header: 'attachment; filename="download.zip"', fallback: "download.zip", decoded: "download.zip" },
  {
    name: "fullwidth solidus, quote and percent (ASCII after NFKD)",
    input: "a／b＂c％.zip",
    header: `attachment; filename="a_b_c_.zip"; filename*=UTF-8''a%EF%BC%8Fb%EF%BC%82c%EF%BC%85.zip`,
    fallback: "a_b_c_.zip",
    decoded: "a／b＂c％.zip",
  },
  {
    name: "a lone surrogate",
    input: "a\ud800b.zip",
    header: `attachment; filename="a_b.zip"; filename*=UTF-8''a%EF%BF%BDb.zip`,
    fallback: "a_b.zip",
    decoded: "a\ufffdb.zip",
  },
];

describe("contentDisposition", () => {
  it.each(CASES)("handles $name", ({ input, header }) => {
    expect(contentDisposition(input)).toBe(header);
  });

  it("gives values that Python's email parser reads back as one header with the expected file names", async () => {
    const parsed = await parseWithPython(CASES.map(({ input }) => contentDisposition(input)));
    expect(parsed).toEqual(
      CASES.map(({ fallback, decoded }) => ({
        headers: 1,
        disposition: "attachment",
        fallback,
        extended: fallback === decoded ? null : decoded,
      })),
    );
  });

  it("is printable ASCII with one well-formed filename parameter for any input", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 80 }), (input) => {
        const value = contentDisposition(input);
        expect(value).toMatch(PRINTABLE_ASCII);
        const match = /^attachment; filename="([^"\\]*)"(?:; filename\*=UTF-8''((?:[A-Za-z0-9!#$&+.^_`|~-]|%[0-9A-F]{2})+))?$/.exec(value);
        expect(match, value).not.toBeNull();
        expect(match![1]).not.toMatch(/[/%]/);
        if (match![2] !== undefined) {
          const decoded = decodeURIComponent(match![2]);
          // eslint-disable-next-line no-control-regex -- control characters are what is checked for
          expect(decoded).not.toMatch(/[\u0000-\u001f\u007f-\u009f/\\]/);
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe("where contentDisposition is exported", () => {
  it("is the same function from the package root and from ephemeral-jobs/http, and no longer a ZIP helper", () => {
    expect(core.contentDisposition).toBe(contentDisposition);
    expect(http.contentDisposition).toBe(contentDisposition);
    expect(Object.keys(zip)).not.toContain("contentDisposition");
  });
});
