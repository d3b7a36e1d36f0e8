/**
 * Where the project's files are, seen from the running code: either the TypeScript sources run
 * through tsx (this file is runtime/paths.ts) or the bundle that `npm run build:runtime` writes
 * (dist/main.js, where this code is inlined). Both sit one folder below the project root, so one
 * rule serves both.
 */
import path from "node:path";
import { fileURLToPath } from "node:url";

export const PROJECT_ROOT = fileURLToPath(new URL("..", import.meta.url));

/** Running from esbuild's bundle in dist/ rather than from the sources. */
export const BUNDLED = !import.meta.url.endsWith(".ts");

/**
 * How to start one of the runtime's child-process entry points (`runtime/<name>.ts` in the
 * sources, `dist/<basename>.js` in the bundle): the module path and Node's flags for it.
 */
export function childEntry(sourcePath: string): { module: string; execArgv: string[] } {
  if (BUNDLED) return { module: path.join(PROJECT_ROOT, "dist", `${path.basename(sourcePath, ".ts")}.js`), execArgv: [] };
  // tsx's loader by absolute URL, so the child starts whatever the working directory.
  return { module: path.join(PROJECT_ROOT, sourcePath), execArgv: ["--import", import.meta.resolve("tsx")] };
}
