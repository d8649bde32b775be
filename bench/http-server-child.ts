/**
 * The host side of the HTTP scenario, in a process of its own: the REST
 * handler behind toNodeHandler on node:http, 127.0.0.1 and a free port.
 *
 *   node --import tsx bench/http-server-child.ts <basePath> [disk|memory]
 *
 * `memory` serves the same routes from a storage held in a Map (no disk at
 * all): a reference line showing what the HTTP layer alone costs.
 * Prints `{"port":N}` once listening; closes when its stdin ends (so it never
 * outlives the bench) or on SIGTERM.
 */
import { once } from "node:events";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { createJobsHandler, toNodeHandler, type JobsStorage } from "../src/http/index.js";
import { JobStorageManager, manualScheduler } from "../src/index.js";
import { memoryStorage } from "./memory-storage.js";

const [basePath, mode = "disk"] = process.argv.slice(2);
if (basePath === undefined || (mode !== "disk" && mode !== "memory")) {
  throw new Error("usage: http-server-child.ts <basePath> [disk|memory]");
}

const storage: JobsStorage & { close(): Promise<void> } =
  mode === "memory" ? memoryStorage() : await JobStorageManager.open({ basePath, scheduler: manualScheduler() });
const server = http.createServer(toNodeHandler(createJobsHandler(storage), { onError: (error) => console.error(error) }));
server.keepAliveTimeout = 30_000;
server.listen(0, "127.0.0.1");
await once(server, "listening");
let requests = 0;
server.on("request", () => requests++);
// CPU time from here on: what serving cost, start-up (tsx, imports) left out.
const cpuAtStart = process.cpuUsage();
process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port })}\n`);

let closing = false;
async function close(): Promise<void> {
  if (closing) return;
  closing = true;
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await storage.close();
  const cpu = process.cpuUsage(cpuAtStart);
  process.stderr.write(`http-server-child: ${requests} requests, ${((cpu.user + cpu.system) / 1000 / Math.max(1, requests)).toFixed(3)} ms CPU each\n`);
  process.exit(0);
}
process.stdin.resume();
process.stdin.once("end", () => void close());
process.once("SIGTERM", () => void close());
