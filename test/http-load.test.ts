/**
 * A bounded load over loopback: several agents at once on one node:http
 * server, each writing a few dozen files one POST at a time over kept-alive
 * connections, then completing and downloading. Asserts that nothing is lost
 * or mixed up between agents; nothing about speed (that is `npm run bench -- http`).
 */
import { execFileSync } from "node:child_process";
import { once } from "node:events";
import fs from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { afterEach, expect, it } from "vitest";
import { createJobsHandler, toNodeHandler } from "../src/http/index.js";
import { openStorage, tempDir } from "./helpers/temp.js";

const AGENTS = 6;
const FILES_PER_AGENT = 30;

const servers: http.Server[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

/** Agent a's file i: distinct per agent, sizes from 1 byte to a few KiB, some nested. */
function fileOf(agent: number, i: number): { path: string; content: string } {
  const content = `agent ${agent} file ${i}\n`.repeat(1 + ((agent * 31 + i * 17) % 200)).slice(0, 1 + ((agent * 131 + i * 977) % 6000));
  return { path: i % 3 === 0 ? `src/deep/${agent}/f${i}.ts` : `f${i}.txt`, content };
}

it(`serves ${AGENTS} agents x ${FILES_PER_AGENT} single-file POSTs with no error and exact counts and sizes`, async () => {
  const { storage } = await openStorage();
  const server = http.createServer(toNodeHandler(createJobsHandler(storage)));
  servers.push(server);
  // Advertised to the client (Keep-Alive: timeout=60), so undici does not retire an idle socket mid-test.
  server.keepAliveTimeout = 60_000;
  // Sockets the server closed while the agents were still working (kept-alive: none).
  let closedDuringLoad = 0;
  let loadDone = false;
  server.on("connection", (socket) => socket.once("close", () => !loadDone && closedDuringLoad++));
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const api = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v1/jobs`;
  const headers = { "content-type": "application/json" };
  const dir = await tempDir("ej-http-load-");

  const agent = async (a: number) => {
    const created = await fetch(`${api}/create`, { method: "POST", headers, body: JSON.stringify({ project_name: `agent-${a}` }) });
    expect(created.status).toBe(200);
    const { job_id: jobId } = (await created.json()) as { job_id: string };
    let expectedBytes = 0;
    for (let i = 0; i < FILES_PER_AGENT; i++) {
      const file = fileOf(a, i);
      expectedBytes += Buffer.byteLength(file.content);
      const response = await fetch(`${api}/${jobId}/files`, { method: "POST", headers, body: JSON.stringify(file) });
      expect(await response.json()).toEqual({ success: true, path: file.path, size: Buffer.byteLength(file.content) });
    }
    const job = (await (await fetch(`${api}/${jobId}`)).json()) as { files_count: number; total_size_bytes: number };
    expect(job).toMatchObject({ files_count: FILES_PER_AGENT, total_size_bytes: expectedBytes });
    const listed = (await (await fetch(`${api}/${jobId}/files`)).json()) as { files: { path: string; size: number }[] };
    expect(Object.fromEntries(listed.files.map((f) => [f.path, f.size]))).toEqual(
      Object.fromEntries(Array.from({ length: FILES_PER_AGENT }, (_, i) => fileOf(a, i)).map((f) => [f.path, Buffer.byteLength(f.content)])),
    );

    const completed = await fetch(`${api}/${jobId}/complete`, { method: "POST" });
    expect(await completed.json()).toMatchObject({ success: true, status: "complete" });
    const download = await fetch(`${api}/${jobId}/download`);
    const bytes = Buffer.from(await download.arrayBuffer());
    expect(bytes.length).toBe(Number(download.headers.get("content-length")));
    const zip = path.join(dir, `${a}.zip`);
    await fs.writeFile(zip, bytes);
    expect(execFileSync("unzip", ["-t", zip], { encoding: "utf8" })).toContain("No errors detected");
    const sample = fileOf(a, FILES_PER_AGENT - 1);
    expect(execFileSync("unzip", ["-p", zip, sample.path], { encoding: "utf8" })).toBe(sample.content);
    return jobId;
  };

  const jobIds = await Promise.all(Array.from({ length: AGENTS }, (_, a) => agent(a)));
  loadDone = true;
  expect(new Set(jobIds).size).toBe(AGENTS);
  const stats = await storage.getStats();
  expect(stats.fileCount).toBe(AGENTS * FILES_PER_AGENT);
  expect(closedDuringLoad).toBe(0);
});
