// Bundles the runtime's entry points (the CLI and the trainer's child process) with esbuild, so
// bin/evoflow.js can run them without tsx: `node scripts/build-runtime.mjs [outdir]` (default dist).
// Code splitting keeps each command's dependencies (the NATS client, MongoDB, the agent) in
// chunks loaded only when used. npm packages stay imports: node_modules is read at run time.
import { rmSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const outdir = path.resolve(root, process.argv[2] ?? "dist");
// The bundle locates the project from its own folder (runtime/paths.ts): one level below the root.
if (path.dirname(outdir) !== root) throw new Error(`the bundle must be one folder below ${root}, not ${outdir}`);

rmSync(outdir, { recursive: true, force: true });
await build({
  absWorkingDir: root,
  entryPoints: ["runtime/cli/main.ts", "runtime/cl/train-child.ts"],
  entryNames: "[name]",
  outdir,
  bundle: true,
  splitting: true,
  platform: "node",
  format: "esm",
  packages: "external",
  logLevel: "warning",
});
