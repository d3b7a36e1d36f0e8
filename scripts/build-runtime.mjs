// Bundles the runtime's entry points (the CLI and the trainer's child process) with esbuild, so
// bin/evoflow.js can run them without tsx: `node scripts/build-runtime.mjs [outdir]` (default dist).
// Code splitting keeps each command's dependencies (the NATS client, MongoDB, the agent) in
// chunks loaded only when used. npm packages stay imports: node_modules is read at run time.
// Evoflow's own node package (nodes/) is built as a package beside them, `<outdir>/nodes/` with
// its package.json naming the built modules, and loaded from there like any node package
// (runtime/paths.ts BUILTIN_NODES_DIR); `<outdir>/sdk.js` is what packages get for `evoflow/sdk`,
// `<outdir>/testing.js` what their tests get for `evoflow/testing`.
// Being entry points of one build, they share the runtime's chunks: one SDK instance for all.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const outdir = path.resolve(root, process.argv[2] ?? "dist");
// The bundle locates the project from its own folder (runtime/paths.ts): one level below the root.
if (path.dirname(outdir) !== root) throw new Error(`the bundle must be one folder below ${root}, not ${outdir}`);

const builtin = JSON.parse(readFileSync(path.join(root, "nodes/package.json"), "utf8"));
const builtModule = (module) => module.replace(/\.ts$/, ".js");
// Its node modules and the services, routes and commands it gives (runtime/packages/load.ts).
const { nodes, services = [], routes = [], commands = {} } = builtin.evoflow;
const packageModules = [...nodes, ...services, ...routes, ...Object.values(commands)];
const nodeEntries = Object.fromEntries(packageModules.map((m) => [path.posix.join("nodes", builtModule(m).replace(/\.js$/, "")), path.posix.join("nodes", m)]));

rmSync(outdir, { recursive: true, force: true });
const { metafile } = await build({
  absWorkingDir: root,
  entryPoints: { main: "runtime/cli/main.ts", "train-child": "nodes/continual-learning/train-child.ts", sdk: "sdk/index.ts", testing: "testing/index.ts", ...nodeEntries },
  outdir,
  bundle: true,
  splitting: true,
  platform: "node",
  format: "esm",
  packages: "external",
  logLevel: "warning",
  metafile: true,
});
// The folders the bundle was built from, for bin/evoflow.js: a source newer than the bundle in any of them runs the sources instead.
const sourceDirs = [...new Set(Object.keys(metafile.inputs).filter((f) => f.includes("/") && !f.startsWith("node_modules/")).map((f) => f.split("/")[0]))].sort();
writeFileSync(path.join(outdir, "sources.json"), `${JSON.stringify(sourceDirs)}\n`);
mkdirSync(path.join(outdir, "nodes"), { recursive: true });
const builtPackage = {
  ...builtin,
  evoflow: {
    ...builtin.evoflow,
    nodes: nodes.map(builtModule),
    services: services.map(builtModule),
    routes: routes.map(builtModule),
    commands: Object.fromEntries(Object.entries(commands).map(([name, m]) => [name, builtModule(m)])),
  },
};
writeFileSync(path.join(outdir, "nodes/package.json"), `${JSON.stringify(builtPackage, null, 2)}\n`);
