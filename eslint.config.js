import js from "@eslint/js";
import tseslint from "typescript-eslint";

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
  {
    // CommonJS test fixtures (preloaded with --require).
    files: ["**/*.cjs"],
    languageOptions: { sourceType: "commonjs", globals: { require: "readonly", module: "writable" } },
    rules: { "@typescript-eslint/no-require-imports": "off" },
  },
);
