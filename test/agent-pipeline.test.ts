import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { expect, it } from "vitest";
import { tempDir } from "./helpers/temp.js";

const run = promisify(execFile);

it("examples/agent-pipeline.ts runs the planner / writer / fixer flow end to end", async () => {
  const basePath = await tempDir();
  const { stdout } = await run(process.execPath, ["--import", "tsx", "examples/agent-pipeline.ts", "--base-path", basePath]);
  expect(stdout).toMatch(/^written\s+8 of 8 files$/m);
  expect(stdout).toMatch(/^fixed\s+src\/App\.tsx rewritten; 8 files, \d+ bytes$/m);
  expect(stdout).toMatch(/^checked\s+unzip -t passed, 8 entries match the job's files$/m);
  expect(stdout).toContain(`zip at     ${basePath}/`);
});
