/**
 * Builds the editor into editor/dist, which the runtime serves at `/` (runtime/api/editor.ts).
 * No React plugin is needed: Vite 8's oxc transform compiles TSX with React's automatic JSX runtime.
 */
import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

const root = fileURLToPath(new URL(".", import.meta.url));
const runtimeUrl = process.env.EVOFLOW_URL ?? "http://127.0.0.1:8080";

export default defineConfig(({ command }) => ({
  root,
  base: "/",
  oxc: { jsx: { runtime: "automatic", importSource: "react", development: command !== "build" } },
  // Builds are for the runtime to serve: React's production build even when NODE_ENV says "test" (vitest builds it).
  define: command === "build" ? { "process.env.NODE_ENV": JSON.stringify("production") } : {},
  build: {
    outDir: "dist",
    emptyOutDir: true,
    // The runtime's token check leaves `/` and `/assets/*` open: keep every built file under assets/.
    assetsDir: "assets",
    chunkSizeWarningLimit: 2000,
    rolldownOptions: {
      // React Flow marks itself "use client" for server components; meaningless in this single-page app.
      onwarn(warning, warn) {
        if (warning.code !== "MODULE_LEVEL_DIRECTIVE") warn(warning);
      },
    },
  },
  server: {
    // The editor imports the runtime's pure modules (ports, canonical) from ../runtime.
    fs: { allow: [fileURLToPath(new URL("..", import.meta.url))] },
    // `npx vite --config editor/vite.config.ts` for development, against a runtime started with `evoflow run`.
    proxy: Object.fromEntries(["/api", "/metrics", "/pipelines"].map((path) => [path, { target: runtimeUrl, ws: true }])),
  },
}));
