/**
 * Where the project's files are, seen from the running code: either the TypeScript sources run
 * through tsx (this file is runtime/paths.ts) or the bundle that `npm run build:runtime` writes
 * (dist/*.js, where this code is inlined). Both sit one folder below the project root, so one
 * rule serves both.
 */
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = fileURLToPath(import.meta.url);

export const PROJECT_ROOT = path.resolve(path.dirname(here), "..");

/** Running from esbuild's bundle rather than from the sources. */
export const BUNDLED = !here.endsWith(".ts");

/**
 * How to start one of the runtime's child-process entry points, given by its source path
 * (e.g. `nodes/continual-learning/train-child.ts`; the bundle has it as `<name>.js` beside its other files):
 * the module to run and Node's flags for it.
 */
export function childEntry(sourcePath: string): { module: string; execArgv: string[] } {
  if (BUNDLED) return { module: path.join(path.dirname(here), `${path.basename(sourcePath, ".ts")}.js`), execArgv: [] };
  // tsx's loader by absolute URL, so the child starts whatever the working directory.
  return { module: path.join(PROJECT_ROOT, sourcePath), execArgv: ["--import", import.meta.resolve("tsx")] };
}

/**
 * Evoflow's own node package, loaded like any other (runtime/packages/): nodes/ in the sources;
 * the bundle carries it built, as `nodes/` beside its other files (scripts/build-runtime.mjs).
 */
export const BUILTIN_NODES_DIR = BUNDLED ? path.join(path.dirname(here), "nodes") : path.join(PROJECT_ROOT, "nodes");

/** The module node packages get for `evoflow/sdk`: the same SDK the runtime itself runs. */
export const SDK_MODULE = BUNDLED ? path.join(path.dirname(here), "sdk.js") : path.join(PROJECT_ROOT, "sdk", "index.ts");
