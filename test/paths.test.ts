import path from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { isJobStorageError } from "../src/errors.js";
import {
  JOB_ID_PATTERN,
  MAX_PATH_BYTES,
  MAX_SEGMENT_BYTES,
  isPathInsideDirectory,
  isSafeJobPath,
  isValidJobId,
  validateJobId,
  validateJobPath,
} from "../src/paths/validate.js";

const bytes = (value: string): number => Buffer.byteLength(value, "utf8");

/** An ASCII path of exactly `total` bytes: 200-byte directories, then a file name. */
function pathOfBytes(total: number): string {
  const segment = "d".repeat(200);
  const parts: string[] = [];
  let used = 0;
  while (total - used > 201) {
    parts.push(segment);
    used += 201;
  }
  parts.push("f".repeat(total - used));
  const result = parts.join("/");
  expect(bytes(result)).toBe(total);
  return result;
}

/** Calls validateJobPath and returns what it threw (failing the test if it did not throw). */
function rejection(input: unknown): unknown {
  try {
    validateJobPath(input as string);
  } catch (error) {
    return error;
  }
  throw new Error(`validateJobPath(${JSON.stringify(input)}) did not throw`);
}

describe("validateJobPath: hostile paths", () => {
  const hostile: Array<[string, unknown]> = [
    // Traversal in every position.
    ["..", ".."],
    ["leading ..", "../a"],
    ["trailing ..", "a/.."],
    ["middle .. that would stay inside", "a/../b"],
    ["./..", "./.."],
    ["a/./../b", "a/./../b"],
    ["deep escape", "a/b/../../../etc/passwd"],
    ["../ after repeated slashes", "a//../b"],
    // Backslashes are rejected, not reinterpreted.
    ["backslash separator", "a\\b"],
    ["backslash traversal", "..\\x"],
    ["mixed separators", "a/..\\..\\b"],
    // Absolute, drive and UNC forms.
    ["absolute", "/etc/passwd"],
    ["double-slash absolute", "//server/share"],
    ["drive with backslash", "C:\\x"],
    ["drive-relative", "c:x"],
    ["drive with slash", "C:/x"],
    ["bare drive", "C:"],
    ["drive hidden behind ./", "./C:x"],
    ["drive hidden behind .//", ".//c:/x"],
    ["UNC", "\\\\server\\x"],
    ["device namespace", "\\\\.\\C:\\x"],
    // NUL and control characters (Unicode Cc: C0, DEL, C1).
    ["NUL", "a\u0000b"],
    ["unit separator", "a\u001fb"],
    ["DEL", "a\u007fb"],
    ["C1 next line", "a\u0085b"],
    ["C1 last", "a\u009fb"],
    ["newline", "a\nb"],
    ["carriage return", "a.ts\r"],
    ["tab", "a\tb.ts"],
    ["escape", "\u001b[31mred.ts"],
    // Lone surrogates: Node would write both as U+FFFD, so two paths would name one file.
    ["lone high surrogate", "a\ud800.ts"],
    ["lone low surrogate", "\udc00.ts"],
    // Windows-reserved names, on the stem before the first dot, in any case.
    ["CON", "CON"],
    ["nul.txt", "nul.txt"],
    ["Com1.tar.gz", "Com1.tar.gz"],
    ["lpt9", "lpt9"],
    ["reserved directory", "src/aux/x.ts"],
    ["CONIN$", "CONIN$"],
    ["conout$.log", "conout$.log"],
    ["prn in the middle", "a/PRN.md/b"],
    ["superscript COM", "COM\u00b9.txt"],
    ["reserved stem with trailing space", "CON .txt"],
    // Windows device names followed by a colon: "CON:" opens the console on extraction.
    ["CON:", "CON:"],
    ["nul:", "nul:"],
    ["aux: in a directory", "src/aux:/x.ts"],
    ["com1:", "com1:"],
    ["LPT1:.txt", "LPT1:.txt"],
    ["nul.txt:stream", "nul.txt:stream"],
    // NTFS alternate data streams: they extract into a hidden stream of another file.
    ["::$DATA stream", "x.txt::$DATA"],
    ["named stream", "file.txt:stream"],
    ["stream in a directory", "src/index.ts:Zone.Identifier"],
    ["colon after the first segment (a stream of docs/a)", "docs/a:b.md"],
    ["drive letter as a later segment", "x/C:/Windows/win.ini"],
    ["drive-relative later segment", "x/c:win.ini"],
    ["leading colon", ":x"],
    ["bare colon segment", "a/:/b"],
    // The other characters Windows forbids in a name.
    ["<", "a<b.ts"],
    [">", "out>file.txt"],
    ['"', 'say "hi".md'],
    ["|", "a|b"],
    ["?", "what?.md"],
    ["*", "src/*.ts"],
    ["forbidden character in a directory", "src/a*b/c.ts"],
    // Bidirectional overrides and isolates: they make a name display as another.
    ["RLO (U+202E) disguising an extension", "invoice\u202efdp.exe"],
    ["LRE (U+202A)", "a\u202ab.ts"],
    ["RLE (U+202B)", "a\u202bb.ts"],
    ["PDF (U+202C)", "a\u202cb.ts"],
    ["LRO (U+202D)", "a\u202db.ts"],
    ["LRI (U+2066)", "dir\u2066/x.ts"],
    ["RLI (U+2067)", "\u2067x.ts"],
    ["FSI (U+2068)", "x\u2068.ts"],
    ["PDI (U+2069)", "src/x\u2069.ts"],
    // Trailing dot or space in a segment.
    ["trailing dot", "a."],
    ["trailing space in a directory", "a /b"],
    ["trailing dot in a directory", "dir./x"],
    ["trailing space", "file.ts "],
    ["space segment", "a/ /b"],
    ["three dots (ends with a dot)", "..."],
    ["dots segment", "a/.../b"],
    // Lengths in UTF-8 bytes.
    ["256-byte ASCII segment", "a".repeat(256)],
    ["128 two-byte chars (256 bytes)", "é".repeat(128)],
    ["86 three-byte chars (258 bytes)", `src/${"日".repeat(86)}`],
    ["1025-byte path", pathOfBytes(MAX_PATH_BYTES + 1)],
    ["1025 bytes of ./ prefixes (measured before normalisation)", `${"./".repeat(511)}abc`],
    // Names of no file.
    ["empty", ""],
    [".", "."],
    ["./", "./"],
    ["trailing slash", "a/"],
    ["only slashes", "///"],
    ["dot segments only", "./././."],
    // Not a string.
    ["undefined", undefined],
    ["null", null],
    ["number", 42],
    ["object", { toString: () => "a.ts" }],
    ["String object", new String("a.ts")],
    ["array", ["a.ts"]],
  ];

  it.each(hostile)("rejects %s with INVALID_PATH", (_name, input) => {
    const error = rejection(input);
    expect(isJobStorageError(error, "INVALID_PATH"), String(error)).toBe(true);
    if (typeof input === "string") {
      expect((error as { path?: string }).path).toBe(input);
      expect(isSafeJobPath(input)).toBe(false);
    } else {
      expect(isSafeJobPath(input as string)).toBe(false);
    }
  });

  it("says why in the message, without echoing a huge path", () => {
    const error = rejection(`${"x".repeat(2000)}/..`) as Error;
    expect(error.message).toMatch(/^Invalid file path ".{80}\.\.\."/);
    expect(error.message.length).toBeLessThan(200);
    expect((rejection("../a") as Error).message).toContain("'..'");
    expect((rejection("a\\b") as Error).message).toContain("backslash");
    expect((rejection("nul.txt") as Error).message).toContain("reserved");
  });

  // Each Windows rule names itself, so a caller knows what to rename.
  const messages: Array<[string, RegExp]> = [
    ["CON:", /reserved device name on Windows \(a device name followed by ':'\)/],
    ["src/aux:/x.ts", /"aux:" is a reserved device name/],
    ["x.txt::$DATA", /NTFS alternate data stream/],
    ["file.txt:stream", /segment "file\.txt:stream" contains ':'.*NTFS alternate data stream/],
    ["x/C:/Windows/win.ini", /segment "C:" is a drive letter/],
    ["C:/x", /a drive letter is not allowed/],
    ["a<b.ts", /the character '<' is not allowed in a file name on Windows/],
    ["what?.md", /the character '\?' is not allowed/],
    ['say "hi".md', /the character '"' is not allowed/],
    ["invoice\u202efdp.exe", /bidirectional override or isolate/],
    ["\u2067x.ts", /bidirectional override or isolate/],
  ];
  it("shows bidi and C1 characters escaped, so the message cannot be disguised", () => {
    const rlo = (rejection("invoice\u202efdp.exe") as Error).message;
    expect(rlo).toContain('"invoice\\u202efdp.exe"');
    expect(rlo).not.toMatch(/[\u202a-\u202e\u2066-\u2069]/);
    const c1 = (rejection("a\u0085b") as Error).message;
    expect(c1).toContain('"a\\u0085b"');
    expect((rejection("a\u0000b") as Error).message).toContain('"a\\u0000b"'); // JSON.stringify's own escape
    // The error's path field keeps the input as it was.
    expect((rejection("invoice\u202efdp.exe") as { path?: string }).path).toBe("invoice\u202efdp.exe");
  });

  it.each(messages)("says which rule %j breaks", (input, pattern) => {
    const error = rejection(input);
    expect(isJobStorageError(error, "INVALID_PATH")).toBe(true);
    expect((error as Error).message).toMatch(pattern);
  });
});

describe("validateJobPath: legitimate paths", () => {
  const deep = `${Array.from({ length: 20 }, (_, i) => `level${i}`).join("/")}/leaf.ts`;
  const segment255 = "s".repeat(MAX_SEGMENT_BYTES);
  const threeByte255 = "日".repeat(85);
  const exact1024 = pathOfBytes(MAX_PATH_BYTES);

  const legitimate: Array<[string, string]> = [
    ["src/app/[id]/page.tsx", "src/app/[id]/page.tsx"],
    ["src/app/(marketing)/layout.tsx", "src/app/(marketing)/layout.tsx"],
    ["app/@modal/default.tsx", "app/@modal/default.tsx"],
    ["app/[...slug]/page.tsx", "app/[...slug]/page.tsx"],
    ["app/[[...slug]]/page.tsx", "app/[[...slug]]/page.tsx"],
    [".github/workflows/ci.yml", ".github/workflows/ci.yml"],
    [".gitignore", ".gitignore"],
    [".env.example", ".env.example"],
    ["a..b.ts", "a..b.ts"],
    ["..a (a name that starts with two dots)", "..a"],
    ["file with spaces.md", "file with spaces.md"],
    [" leading space.md", " leading space.md"],
    ["données/résumé.md", "données/résumé.md"],
    ["日本語/ファイル.ts", "日本語/ファイル.ts"],
    ["emoji", "🚀/launch 🎉.md"],
    ["20 levels deep", deep],
    ["255-byte ASCII segment", segment255],
    ["255-byte segment of three-byte chars", `src/${threeByte255}`],
    ["1024-byte path", exact1024],
    ["console.log.ts (stem console)", "console.log.ts"],
    ["con-fig.ts", "con-fig.ts"],
    ["CONTRIBUTING.md", "CONTRIBUTING.md"],
    ["COM10.txt (only COM1-9 are reserved)", "COM10.txt"],
    ["auxiliary/x.ts", "auxiliary/x.ts"],
    ["plan.json (internal names are ordinary generated names)", "plan.json"],
    [".job_metadata.json", ".job_metadata.json"],
    // Framework route conventions: brackets, parentheses, @, $, +, _ stay legal.
    ["intercepting route (..)", "app/@modal/(..)photo/[id]/page.tsx"],
    ["intercepting route (.)", "app/feed/(.)photo/[id]/page.tsx"],
    ["intercepting route (..)(..)", "app/a/b/(..)(..)settings/page.tsx"],
    ["intercepting route (...)", "app/(...)login/page.tsx"],
    ["SvelteKit +page", "src/routes/[slug]/+page.svelte"],
    ["Remix $param and _index", "app/routes/posts.$postId.tsx"],
    ["_index", "app/routes/_index.tsx"],
    ["Nuxt [[optional]]", "pages/[[slug]].vue"],
    ["right-to-left script without controls", "docs/שלום/مرحبا.md"],
    ["ZWJ emoji sequence", "👩\u200d💻.md"],
    ["hash and ampersand", "docs/C#&F#.md"],
    ["$ and ~", "scripts/$HOME~1.sh"],
    ["percent-encoded looking", "a%2F..%2Fb.ts"],
  ];

  it.each(legitimate)("accepts %s unchanged", (_name, input) => {
    expect(validateJobPath(input)).toBe(input);
    expect(isSafeJobPath(input)).toBe(true);
  });

  it("accepts exactly the byte limits and no more", () => {
    expect(bytes(segment255)).toBe(MAX_SEGMENT_BYTES);
    expect(bytes(threeByte255)).toBe(MAX_SEGMENT_BYTES);
    expect(bytes(exact1024)).toBe(MAX_PATH_BYTES);
    expect(isSafeJobPath(`${segment255}x`)).toBe(false);
    expect(isSafeJobPath(`${exact1024}x`)).toBe(false);
  });

  const normalised: Array<[string, string]> = [
    ["./src//a.ts", "src/a.ts"],
    ["a/./b", "a/b"],
    ["a//b", "a/b"],
    ["./a", "a"],
    ["././a/./b/.//c.ts", "a/b/c.ts"],
    ["src///app//[id]/page.tsx", "src/app/[id]/page.tsx"],
    // A trailing "." segment is dropped like any other "." segment.
    ["a/.", "a"],
  ];

  it.each(normalised)("normalises %j to %j", (input, expected) => {
    expect(validateJobPath(input)).toBe(expected);
    expect(validateJobPath(expected)).toBe(expected);
  });
});

describe("validateJobId", () => {
  const valid = [
    "a",
    "Z",
    "0",
    "job-1",
    "job_1",
    "A1-b2_C3",
    "3f2504e0-4f89-41d3-9a0c-0305e82c3301",
    "a".repeat(64),
    `9${"-".repeat(63)}`,
  ];
  const invalid: unknown[] = [
    "",
    ".",
    "..",
    "a/b",
    "a\\b",
    ".hidden",
    "-x",
    "_x",
    "a".repeat(65),
    "a b",
    "a.b",
    "job\n",
    "a\u0000",
    "é",
    "日本",
    "job🚀",
    " a",
    "a ",
    undefined,
    null,
    42,
  ];

  it.each(valid)("accepts %j", (jobId) => {
    expect(validateJobId(jobId)).toBe(jobId);
    expect(isValidJobId(jobId)).toBe(true);
    expect(JOB_ID_PATTERN.test(jobId)).toBe(true);
  });

  it.each(invalid)("rejects %j with INVALID_JOB_ID", (jobId) => {
    let thrown: unknown;
    try {
      validateJobId(jobId as string);
    } catch (error) {
      thrown = error;
    }
    expect(isJobStorageError(thrown, "INVALID_JOB_ID"), String(thrown)).toBe(true);
    expect(isValidJobId(jobId as string)).toBe(false);
  });
});

describe("isPathInsideDirectory", () => {
  const cases: Array<[string, string, boolean]> = [
    ["/base/job/a.ts", "/base/job", true],
    ["/base/job/src/deep/a.ts", "/base/job", true],
    ["/base/job", "/base/job", true],
    ["/base/job/", "/base/job", true],
    ["/base/job", "/base/job/", true],
    ["/base/job/a.ts", "/base/job/", true],
    ["/base/job/..hidden", "/base/job", true],
    ["/base/job/sub/../a.ts", "/base/job", true],
    ["/base/job-evil", "/base/job", false],
    ["/base/job-evil/a.ts", "/base/job", false],
    ["/base/jobx", "/base/job", false],
    ["/base", "/base/job", false],
    ["/", "/base/job", false],
    ["/etc/passwd", "/base/job", false],
    ["/base/job/../job-evil/a.ts", "/base/job", false],
    ["/base/job/..", "/base/job", false],
    ["/x", "/", true],
    ["base/job/a.ts", "base/job", false],
    ["/base/job/a.ts", "base/job", false],
  ];

  it.each(cases)("%j inside %j is %s", (child, parent, expected) => {
    expect(isPathInsideDirectory(child, parent)).toBe(expected);
  });
});

describe("validateJobPath: nothing lands outside the job directory (property)", () => {
  const jobDir = path.resolve("/srv/jobs/job-1");
  const winJobDir = "C:\\jobs\\job-1";

  /** Everything a successful result must satisfy; a rejection must be INVALID_PATH. */
  function check(input: string): void {
    let result: string;
    try {
      result = validateJobPath(input);
    } catch (error) {
      expect(isJobStorageError(error, "INVALID_PATH"), String(error)).toBe(true);
      expect(isSafeJobPath(input)).toBe(false);
      return;
    }
    expect(isSafeJobPath(input)).toBe(true);

    const resolved = path.resolve(jobDir, result);
    expect(resolved).not.toBe(jobDir); // strictly inside
    expect(isPathInsideDirectory(resolved, jobDir)).toBe(true);
    const relative = path.relative(jobDir, resolved);
    expect(relative === ".." || relative.startsWith(`..${path.sep}`) || path.isAbsolute(relative)).toBe(false);
    expect(relative.split(path.sep).join("/")).toBe(result); // resolving reinterprets nothing

    // The same holds for Windows path rules (drive letters, reserved names aside).
    const winRelative = path.win32.relative(winJobDir, path.win32.resolve(winJobDir, result));
    expect(winRelative).not.toBe("");
    expect(winRelative === ".." || winRelative.startsWith("..\\") || path.win32.isAbsolute(winRelative)).toBe(false);

    const segments = result.split("/");
    expect(segments).not.toContain("..");
    expect(segments).not.toContain(".");
    expect(segments).not.toContain("");
    expect(result).not.toContain("\\");
    // eslint-disable-next-line no-control-regex
    expect(result).not.toMatch(/[\u0000-\u001f\u007f-\u009f]/);
    expect(result).not.toMatch(/\p{Surrogate}/u); // well-formed, so one path names one file
    expect(result).not.toMatch(/[<>:"|?*]/); // extracts on Windows: no stream, drive or forbidden character
    expect(result).not.toMatch(/[\u202a-\u202e\u2066-\u2069]/); // displays as what it is
    expect(bytes(result)).toBeLessThanOrEqual(MAX_PATH_BYTES);
    for (const segment of segments) expect(bytes(segment)).toBeLessThanOrEqual(MAX_SEGMENT_BYTES);
    expect(validateJobPath(result)).toBe(result); // idempotent
  }

  const hostileSegment = fc.constantFrom(
    "..", ".", "", "/", "//", "\\", "C:", "c:", "Z:", ":", "\u0000", "\u001f", "\u007f", "\u0085", "\n",
    " ", "a.", "a ", "..a", "a..", "...", "a", "src", "b.ts", "CON", "nul.txt", "com1", "Lpt9.x", "CONIN$",
    "日本", "é", "🚀", "\ud800", "\udc00", "[id]", "(group)", "@modal", ".env", "~", "%2e%2e", "x".repeat(250),
    "CON:", "nul:", "aux:", "com1:", "::$DATA", ":stream", "x.txt:s", "<", ">", "\"", "|", "?", "*",
    "\u202a", "\u202e", "\u2066", "\u2069", "(..)", "(.)", "(...)", "[...slug]",
  );

  const arbitraries: Array<[string, fc.Arbitrary<string>]> = [
    ["arbitrary strings", fc.string({ maxLength: 40 })],
    ["arbitrary UTF-16 (lone surrogates included)", fc.string({ unit: "binary", maxLength: 40 })],
    ["arbitrary code units", fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)), maxLength: 30 })],
    ["concatenated hostile pieces", fc.array(hostileSegment, { maxLength: 12 }).map((parts) => parts.join(""))],
    ["hostile pieces joined by /", fc.array(hostileSegment, { maxLength: 12 }).map((parts) => parts.join("/"))],
    ["./-prefixed hostile pieces", fc.array(hostileSegment, { minLength: 1, maxLength: 6 }).map((parts) => `./${parts.join("/")}`)],
  ];

  it.each(arbitraries)("holds for %s", (_name, arbitrary) => {
    fc.assert(fc.property(arbitrary, check), { numRuns: 2000 });
  });

  it("accepts every path made of ordinary segments, unchanged", () => {
    const ordinarySegment = fc
      .stringMatching(/^[A-Za-z0-9_.()[\]@+=,$#&-]{0,20}[A-Za-z0-9_)\]]$/)
      .filter((segment) => !/^(CON|PRN|AUX|NUL|COM[1-9]|LPT[1-9])$/i.test(segment.split(".")[0]!));
    fc.assert(
      fc.property(fc.array(ordinarySegment, { minLength: 1, maxLength: 10 }), (segments) => {
        const input = segments.join("/");
        expect(validateJobPath(input)).toBe(input);
        expect(validateJobPath(`./${segments.join("//")}`)).toBe(input);
      }),
      { numRuns: 2000 },
    );
  });
});
