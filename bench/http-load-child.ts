/**
 * The client side of the HTTP scenario, in a process of its own: `agents`
 * concurrent agents on loopback, each creating a job, POSTing `files` files
 * one at a time to `/{id}/files` (the guide's route), completing the job and
 * downloading its ZIP. Node's global fetch (undici), one connection per agent.
 *
 *   node --import tsx bench/http-load-child.ts <baseUrl> <agents> <files> <seed>
 *
 * Prints one JSON line: write count, errors, the write phase's wall time
 * (first write sent to last write answered, all agents) and every write's latency.
 */
import { setS, textOf } from "./data.js";

const [baseUrl, agentsArg, filesArg, seedArg] = process.argv.slice(2);
if (baseUrl === undefined || agentsArg === undefined || filesArg === undefined || seedArg === undefined) {
  throw new Error("usage: http-load-child.ts <baseUrl> <agents> <files> <seed>");
}
const agents = Number(agentsArg);
const filesPerAgent = Number(filesArg);
const set = setS(Number(seedArg));
const contents = set.files.map((spec) => ({ path: spec.path, content: textOf(spec) }));
const api = `${baseUrl}/api/v1/jobs`;
const JSON_HEADERS = { "content-type": "application/json" };

const latencies: number[] = [];
const errors: string[] = [];
let bytes = 0;
let firstWrite = Number.POSITIVE_INFINITY;
let lastWrite = 0;

async function expectOk(response: Response, what: string): Promise<unknown> {
  if (response.status !== 200) {
    errors.push(`${what}: ${response.status} ${await response.text()}`);
    return undefined;
  }
  return response.json();
}

async function agent(index: number): Promise<void> {
  const created = (await expectOk(
    await fetch(`${api}/create`, { method: "POST", headers: JSON_HEADERS, body: JSON.stringify({ project_name: `http-bench-${index}` }) }),
    "create",
  )) as { job_id: string } | undefined;
  if (!created) return;
  const jobId = created.job_id;
  for (let i = 0; i < filesPerAgent; i++) {
    const file = contents[i % contents.length]!;
    const body = JSON.stringify({ path: i < contents.length ? file.path : `extra/${i}/${file.path}`, content: file.content });
    const start = performance.now();
    firstWrite = Math.min(firstWrite, start);
    const result = await expectOk(await fetch(`${api}/${jobId}/files`, { method: "POST", headers: JSON_HEADERS, body }), "write");
    const end = performance.now();
    lastWrite = Math.max(lastWrite, end);
    if (result !== undefined) {
      latencies.push(end - start);
      bytes += Buffer.byteLength(file.content);
    }
  }
  await expectOk(await fetch(`${api}/${jobId}/complete`, { method: "POST" }), "complete");
  const download = await fetch(`${api}/${jobId}/download`);
  const zip = await download.arrayBuffer();
  if (download.status !== 200 || zip.byteLength !== Number(download.headers.get("content-length"))) {
    errors.push(`download: ${download.status}, ${zip.byteLength} bytes`);
  }
}

const started = performance.now();
await Promise.all(Array.from({ length: agents }, (_, i) => agent(i)));
const totalMs = performance.now() - started;
process.stdout.write(
  `${JSON.stringify({ writes: latencies.length, bytes, errors: errors.slice(0, 10), errorCount: errors.length, writeMs: lastWrite - firstWrite, totalMs, latencies })}\n`,
);
