import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { byteEntropy, hasCompressedExtension, smallFileMayCompress, worthDeflating } from "../src/zip/compressibility.js";

const SOURCE = Buffer.from("export function add(a: number, b: number): number {\n  return a + b;\n}\n".repeat(400));

describe("compressibility", () => {
  it.each([
    ["assets/logo.png", true],
    ["assets/LOGO.PNG", true],
    ["photo.jpeg", true],
    ["fonts/inter.woff2", true],
    ["release.tar.gz", true],
    ["vendor/lib.jar", true],
    ["docs/manual.pdf", true],
    ["src/index.ts", false],
    ["README", false],
    [".gz", false], // a dotfile named ".gz", not an extension
    ["png/readme.txt", false],
  ])("hasCompressedExtension(%j) is %j", (name, expected) => {
    expect(hasCompressedExtension(name)).toBe(expected);
  });

  it("measures byte entropy: about 8 bits for random data, much less for source code", () => {
    expect(byteEntropy(randomBytes(4096))).toBeGreaterThan(7.9);
    expect(byteEntropy(SOURCE.subarray(0, 4096))).toBeLessThan(5);
    expect(byteEntropy(Buffer.from(randomBytes(3000).toString("base64")).subarray(0, 4096))).toBeLessThan(6.1);
    expect(byteEntropy(Buffer.alloc(4096, 7))).toBe(0);
    expect(byteEntropy(Buffer.alloc(0))).toBe(0);
  });

  it("lets source code and small files be deflated, and spares random data the full deflate", () => {
    expect(smallFileMayCompress(SOURCE)).toBe(true);
    expect(smallFileMayCompress(randomBytes(4000))).toBe(true); // too small to probe: deflate decides
    expect(smallFileMayCompress(randomBytes(30_000))).toBe(false);
  });

  it("probes high-entropy data that repeats, and deflates it", () => {
    // 1 KiB of random bytes, repeated: high byte entropy (about 7.8), yet deflate halves it.
    const repeated = Buffer.concat(new Array(20).fill(randomBytes(1024)) as Buffer[]);
    expect(byteEntropy(repeated.subarray(0, 4096))).toBeGreaterThan(7);
    expect(smallFileMayCompress(repeated)).toBe(true);
  });

  it("keeps deflated data only when it saves at least 5 %", () => {
    expect(worthDeflating(1000, 950)).toBe(true);
    expect(worthDeflating(1000, 951)).toBe(false);
    expect(worthDeflating(1000, 1010)).toBe(false);
  });
});
