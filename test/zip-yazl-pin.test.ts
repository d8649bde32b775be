import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { describe, expect, it } from "vitest";
import { YAZL_VERIFIED_VERSION, fastZipFileSupported } from "../src/zip/fast-zip-file.js";

const require = createRequire(import.meta.url);

/** `version` of a package.json. */
async function versionOf(file: string): Promise<string> {
  return (JSON.parse(await readFile(file, "utf8")) as { version: string }).version;
}

// fast-zip-file.ts reaches into yazl's private members. A different yazl may
// still pass the runtime self-test and silently fall back (slower) or, worse,
// pass it and break elsewhere: this fails instead, naming what to re-check.
describe("the yazl that FastZipFile reaches into", () => {
  it("is installed at exactly the version the fast path was verified against", async () => {
    const installed = await versionOf(require.resolve("yazl/package.json"));
    expect(
      installed,
      `yazl ${installed} is installed, but fast-zip-file.ts was verified against yazl ${YAZL_VERIFIED_VERSION}: ` +
        "re-read yazl's index.js against the members listed there, then move YAZL_VERIFIED_VERSION and the pin in package.json together",
    ).toBe(YAZL_VERIFIED_VERSION);
  });

  it("is pinned exactly in package.json, to that version", async () => {
    const manifest = JSON.parse(await readFile(new URL("../package.json", import.meta.url), "utf8")) as { dependencies: Record<string, string> };
    expect(manifest.dependencies.yazl, "package.json must pin yazl exactly (no ^ or ~): the fast path uses its private members").toBe(YAZL_VERIFIED_VERSION);
  });

  it("passes the runtime self-test, so builds take the fast path", async () => {
    await expect(fastZipFileSupported()).resolves.toBe(true);
  });
});
