/**
 * The layering rules of eslint.config.js bite: each snippet that breaks one
 * is linted as if it lived in that layer and must be reported with the rule's
 * message; compliant snippets must pass. A glob or pattern that silently
 * matches nothing fails here, not in review.
 */
import { fileURLToPath } from "node:url";
import { ESLint } from "eslint";
import tseslint from "typescript-eslint";
import { beforeAll, describe, expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

const UPPER = "The core (src/*.ts, manager/, paths/, zip/, expiry/, headers/) never imports http/, s3/, cli/ or testing/: they sit on top of it.";
const ENTRY_POINT = "The core never imports the package's http, s3 or testing entry points: they sit on top of it.";
const FRAMEWORK = "The core never imports a host framework (express, fastify, hono, next): adapters live in src/http/.";
const AWS = "The core never imports the AWS SDK (@aws-sdk/*): S3 upload lives in src/s3/.";
const MANAGER = "paths/, zip/ and headers/ never import manager/: the manager builds on them, not the other way round.";
const ERRORS = "src/errors.ts is the bottom layer: it imports nothing of ours.";
const SCHEMAS = "src/schemas.ts sits at the bottom: of ours it imports only paths/.";
const HTTP = "src/http/ never imports cli/, s3/ or testing/: they are separate entry points beside it.";

let eslint: ESLint;

beforeAll(() => {
  eslint = new ESLint({
    cwd: ROOT,
    overrideConfigFile: fileURLToPath(new URL("../eslint.config.js", import.meta.url)),
    // The snippets are not files of a TypeScript project, and only the
    // layering rules are under test here: `npm run lint` runs the rest.
    overrideConfig: tseslint.configs.disableTypeChecked,
    ruleFilter: ({ ruleId }) => ruleId === "no-restricted-imports" || ruleId === "no-restricted-syntax",
  });
});

async function lint(filePath: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath, warnIgnored: true });
  expect(result).toBeDefined();
  expect(result!.fatalErrorCount).toBe(0);
  return result!.messages.map((message) => message.message);
}

describe("layering lint", () => {
  it.each([
    // paths/, zip/ and headers/ know nothing of manager/.
    ["src/paths/snippet.ts", `import { jobDir } from "../manager/layout.js";`, MANAGER],
    ["src/zip/snippet.ts", `import type { StorageContext } from "../manager/context.js";`, MANAGER],
    ["src/headers/snippet.ts", `export { JobStorageManager } from "../manager/manager.js";`, MANAGER],
    // The core never imports the layers on top of it.
    ["src/manager/snippet.ts", `import { createJobsHandler } from "../http/index.js";`, UPPER],
    ["src/manager/snippet.ts", `import type { JobsHandler } from "../http/handler.js";`, UPPER],
    ["src/index.ts", `export { uploadZipToS3 } from "./s3/index.js";`, UPPER],
    ["src/expiry/snippet.ts", `import { createTestStorage } from "../testing/index.js";`, UPPER],
    ["src/zip/snippet.ts", `import { run } from "../cli/run.js";`, UPPER],
    ["src/paths/snippet.ts", `import { createJobsHandler } from "../http/index.js";`, UPPER],
    ["src/headers/snippet.ts", `import "../s3/load.js";`, UPPER],
    ["src/config.ts", `import { createJobsHandler } from "ephemeral-jobs/http";`, ENTRY_POINT],
    // ... nor a host framework ...
    ["src/manager/snippet.ts", `import express from "express";`, FRAMEWORK],
    ["src/zip/snippet.ts", `import Fastify from "fastify";`, FRAMEWORK],
    ["src/expiry/snippet.ts", `import { Hono } from "hono";`, FRAMEWORK],
    ["src/headers/snippet.ts", `import { cors } from "hono/cors";`, FRAMEWORK],
    ["src/logger.ts", `import { NextResponse } from "next/server";`, FRAMEWORK],
    ["src/paths/snippet.ts", `import { serve } from "@hono/node-server";`, FRAMEWORK],
    ["src/manager/snippet.ts", `export const load = () => import("fastify");`, FRAMEWORK],
    // ... nor the AWS SDK.
    ["src/manager/snippet.ts", `import { S3Client } from "@aws-sdk/client-s3";`, AWS],
    ["src/manager/snippet.ts", `export const load = () => import("@aws-sdk/lib-storage");`, AWS],
    // errors and schemas are the bottom.
    ["src/errors.ts", `import { validateJobPath } from "./paths/validate.js";`, ERRORS],
    ["src/errors.ts", `import type { Logger } from "./logger.js";`, ERRORS],
    ["src/schemas.ts", `import { JobStorageError } from "./errors.js";`, SCHEMAS],
    ["src/schemas.ts", `import { jobDir } from "./manager/layout.js";`, SCHEMAS],
    // The HTTP layer stays beside the other entry points.
    ["src/http/snippet.ts", `import { run } from "../cli/run.js";`, HTTP],
    ["src/http/snippet.ts", `import { uploadZipToS3 } from "../s3/index.js";`, HTTP],
    ["src/http/snippet.ts", `import { createTestStorage } from "../testing/index.js";`, HTTP],
  ])("reports %s importing `%s`", async (filePath, code, message) => {
    // no-restricted-imports prefixes the pattern's message with the specifier.
    expect(await lint(filePath, code)).toContainEqual(expect.stringContaining(message));
  });

  it.each([
    ["src/zip/snippet.ts", `import { validateJobPath } from "../paths/validate.js";\nimport { JobStorageError } from "../errors.js";\nimport fs from "node:fs/promises";`],
    ["src/manager/snippet.ts", `import { zipDirectory } from "../zip/index.js";\nimport { contentDisposition } from "../headers/content-disposition.js";\nimport Database from "better-sqlite3";`],
    ["src/manager/snippet.ts", `import nextTick from "next-tick";\nimport { fromIni } from "aws-sdk-lookalike";`],
    ["src/schemas.ts", `import { z } from "zod";\nimport { isSafeJobPath } from "./paths/validate.js";`],
    ["src/errors.ts", `import { inspect } from "node:util";`],
    ["src/http/snippet.ts", `import { JobStorageManager } from "../manager/manager.js";\nimport { Hono } from "hono";\nimport type { FastifyPluginAsync } from "fastify";`],
    ["src/s3/snippet.ts", `import { S3Client } from "@aws-sdk/client-s3";\nimport { JobStorageManager } from "../manager/manager.js";`],
    ["src/cli/snippet.ts", `import { createJobsHandler } from "../http/index.js";\nimport { createTestStorage } from "../testing/index.js";`],
    ["test/snippet.test.ts", `import express from "express";\nimport { createJobsHandler } from "../src/http/index.js";`],
  ])("allows %s to import what its layer may", async (filePath, code) => {
    expect(await lint(filePath, code)).toEqual([]);
  });
});
