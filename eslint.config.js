import js from "@eslint/js";
import tseslint from "typescript-eslint";

// ---------------------------------------------------------------------------
// Layering (README "Concepts"): errors and schemas at the bottom; paths/, zip/
// and headers/ know nothing of manager/; http/, s3/, testing/ and cli/ sit on
// top and nothing below imports them; the core never imports a host framework
// or the AWS SDK. Each restriction is one pattern with the rule as its message.
// A file gets the restrictions of every layer it belongs to: in flat config the
// last matching `no-restricted-imports` wins, so each block lists all of them.
// test/lint-layering.test.ts proves every pattern fires where it should.
// ---------------------------------------------------------------------------

/** A relative specifier reaching a folder of src/ by name (`./http/…`, `../manager/…`). */
const ourFolder = (names) => `^(?:\\./|(?:\\.\\./)+)(?:${names.join("|")})(?:/|$)`;

const CORE = ["src/*.ts", "src/manager/**", "src/paths/**", "src/zip/**", "src/expiry/**", "src/headers/**"];

const coreImportsNoUpperLayer = {
  regex: ourFolder(["http", "s3", "cli", "testing"]),
  message: "The core (src/*.ts, manager/, paths/, zip/, expiry/, headers/) never imports http/, s3/, cli/ or testing/: they sit on top of it.",
};
const coreImportsNoUpperEntryPoint = {
  regex: "^ephemeral-jobs/(?:http|s3|testing)(?:/|$)",
  message: "The core never imports the package's http, s3 or testing entry points: they sit on top of it.",
};
const HOST_FRAMEWORK_MESSAGE = "The core never imports a host framework (express, fastify, hono, next): adapters live in src/http/.";
const coreImportsNoHostFramework = {
  regex: "^(?:express|fastify|hono|next)(?:/|$)|^@hono/",
  message: HOST_FRAMEWORK_MESSAGE,
};
const AWS_SDK_MESSAGE = "The core never imports the AWS SDK (@aws-sdk/*): S3 upload lives in src/s3/.";
const coreImportsNoAwsSdk = { regex: "^@aws-sdk/", message: AWS_SDK_MESSAGE };
const CORE_PATTERNS = [coreImportsNoUpperLayer, coreImportsNoUpperEntryPoint, coreImportsNoHostFramework, coreImportsNoAwsSdk];

const noManager = {
  regex: ourFolder(["manager"]),
  message: "paths/, zip/ and headers/ never import manager/: the manager builds on them, not the other way round.",
};
const errorsImportNothingOfOurs = {
  regex: "^\\.|^ephemeral-jobs(?:/|$)",
  message: "src/errors.ts is the bottom layer: it imports nothing of ours.",
};
const schemasImportOnlyPaths = {
  regex: "^(?:\\.\\.?/(?!paths/)|\\.\\.?$)|^ephemeral-jobs(?:/|$)",
  message: "src/schemas.ts sits at the bottom: of ours it imports only paths/.",
};
const httpImportsNoSiblings = {
  regex: ourFolder(["cli", "s3", "testing"]),
  message: "src/http/ never imports cli/, s3/ or testing/: they are separate entry points beside it.",
};

/** `import()` escapes no-restricted-imports; the core's dynamic imports get the same two package rules. */
const coreDynamicImports = [
  { selector: "ImportExpression[source.value=/^(?:(?:express|fastify|hono|next)(?:\\u002F|$)|@hono\\u002F)/]", message: HOST_FRAMEWORK_MESSAGE },
  { selector: "ImportExpression[source.value=/^@aws-sdk\\u002F/]", message: AWS_SDK_MESSAGE },
];

const restrict = (files, patterns) => ({ files, rules: { "no-restricted-imports": ["error", { patterns }] } });

const layering = [
  restrict(CORE, CORE_PATTERNS),
  restrict(["src/paths/**", "src/zip/**", "src/headers/**"], [...CORE_PATTERNS, noManager]),
  restrict(["src/errors.ts"], [...CORE_PATTERNS, errorsImportNothingOfOurs]),
  restrict(["src/schemas.ts"], [...CORE_PATTERNS, schemasImportOnlyPaths]),
  restrict(["src/http/**"], [httpImportsNoSiblings]),
  { files: CORE, rules: { "no-restricted-syntax": ["error", ...coreDynamicImports] } },
];

export default tseslint.config(
  { ignores: ["dist/", "docs/", "node_modules/", "coverage/", "examples/next-app-router/.next/"] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    // Each file is checked against the nearest tsconfig.json: the root one for
    // src/, test/ and bench/, examples/tsconfig.json for the examples.
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
  },
  {
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      // An `async` function without `await` is how our API turns a synchronous
      // throw into a rejection (getJob, listFiles, a storage double in a test):
      // removing `async` to please the rule would change what callers see.
      "@typescript-eslint/require-await": "off",
      // Forwarding a reason we did not create (an AbortSignal's, a caught
      // rejection's) is legitimate; a string or a literal still is not.
      "@typescript-eslint/prefer-promise-reject-errors": ["error", { allowThrowingUnknown: true }],
    },
  },
  {
    // Vitest's asymmetric matchers (`expect.any(String)`) are typed `any` by
    // design: placing one inside an expected object is not an unsafe assignment.
    files: ["test/**"],
    rules: { "@typescript-eslint/no-unsafe-assignment": "off" },
  },
  {
    // Plain JavaScript is in no TypeScript project; the Next.js example is a
    // package of its own whose dependencies a fresh clone does not install.
    files: ["**/*.{js,mjs,cjs}", "examples/next-app-router/**"],
    extends: [tseslint.configs.disableTypeChecked],
  },
  ...layering,
  {
    // CommonJS test fixtures (preloaded with --require).
    files: ["**/*.cjs"],
    languageOptions: { sourceType: "commonjs", globals: { require: "readonly", module: "writable" } },
    rules: { "@typescript-eslint/no-require-imports": "off" },
  },
);
