/**
 * A resumable download with a real client: curl fetches the first part of a
 * ZIP over 10 MB (incompressible content), then `curl -C -` finishes it; the
 * result must be the ZIP byte for byte and pass `unzip -t`.
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import fs from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { promisify } from "node:util";
import { afterEach, describe, expect, it } from "vitest";
import { createJobsHandler, toNodeHandler } from "../src/http/index.js";
import { openStorage, tempDir } from "./helpers/temp.js";

const run = promisify(execFile);

async function hasCommand(command: string): Promise<boolean> {
  try {
    await run(command, ["--version"]);
    return true;
  } catch {
    // unzip prints its version with -v, not --version
    return run(command, ["-v"]).then(
      () => true,
      () => false,
    );
  }
}

const tools = (await hasCommand("curl")) && (await hasCommand("unzip"));
if (!tools) console.warn("http-resume.test.ts: skipped, curl and unzip are needed on PATH");

const servers: http.Server[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

describe.runIf(tools)("resuming a download with curl -C -", () => {
  it("finishes a partial download of a 12 MB ZIP into the exact ZIP", async () => {
    const { storage } = await openStorage();
    await storage.createJob({ projectName: "big", jobId: "big" });
    await storage.writeFiles(
      "big",
      Array.from({ length: 12 }, (_, i) => ({ path: `assets/blob-${i}.bin`, content: randomBytes(1024 * 1024) })),
    );
    await storage.completeJob("big");
    const zipHandle = await storage.openZip("big");
    zipHandle.stream.destroy();
    const zip = await fs.readFile(zipHandle.path);
    expect(zip.length).toBeGreaterThan(10 * 1024 * 1024);

    const server = http.createServer(toNodeHandler(createJobsHandler(storage)));
    servers.push(server);
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v1/jobs/big/download`;

    const dir = await tempDir("ej-curl-");
    const part = path.join(dir, "big.zip");
    // The first part: what a connection that broke after 4,000,000 bytes left behind.
    const first = await run("curl", ["-sS", "-f", "--range", "0-3999999", "-o", part, "-w", "%{http_code}", url]);
    expect(first.stdout).toBe("206");
    expect((await fs.stat(part)).size).toBe(4_000_000);

    // curl -C - asks for bytes=4000000- and appends.
    const rest = await run("curl", ["-sS", "-f", "-C", "-", "-o", part, "-w", "%{http_code} %{size_download}", url]);
    expect(rest.stdout).toBe(`206 ${zip.length - 4_000_000}`);
    const downloaded = await fs.readFile(part);
    expect(downloaded.length).toBe(zip.length);
    expect(downloaded.equals(zip)).toBe(true);

    const test = await run("unzip", ["-t", part]);
    expect(test.stdout).toContain("No errors detected");
    expect(test.stdout.match(/testing: assets\/blob-\d+\.bin +OK/g)).toHaveLength(12);
  }, 120_000);
});
