#!/usr/bin/env node
/**
 * The `ephemeral-jobs` bin. Everything happens in `./run.ts`.
 * @module
 */
import { run } from "./run.js";

// `ephemeral-jobs ls | head -1`: a reader that goes away is not an error.
for (const stream of [process.stdout, process.stderr]) {
  stream.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code === "EPIPE") process.exit(process.exitCode ?? 0);
    throw error;
  });
}

process.exitCode = await run(process.argv.slice(2));
