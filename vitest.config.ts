import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["**/*.test.ts"],
    exclude: ["node_modules/**", "editor/dist/**"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Two cores on CI: files run in parallel processes, at most two at once.
    maxWorkers: 2,
    globalSetup: ["test/temp-root.ts"],
  },
});
