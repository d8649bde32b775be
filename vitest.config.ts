import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Fails the run in one line when a system tool the tests read ZIPs with is missing.
    globalSetup: ["test/setup/preflight.ts"],
    // Child-process and tmpfs tests spend their time waiting on other processes.
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
