#!/usr/bin/env -S node --max-semi-space-size=32
// A larger young generation: the engine makes a short-lived envelope per hop, and with
// V8's default 16 MB one, messages still held by taps and queues get promoted more often
// (bench/results/engine-vs-node-red.md measures both; 32 MB is ~10% faster and steadier).
//
// The CLI is TypeScript. `npm run build:runtime` (run by scripts/setup.sh) bundles it into
// dist/ with esbuild: the bundle starts in about half the CPU time and without tsx's loader
// thread, which costs ~35 MB of RSS. Whenever a source file is newer than the bundle, the
// sources run through tsx instead, so an edit never runs stale code and no build is needed.
import { existsSync, readFileSync, readdirSync, statSync } from "node:fs";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const bundle = `${root}dist/main.js`;
// The folders the bundle was built from, as the build wrote them (scripts/build-runtime.mjs).
const sources = `${root}dist/sources.json`;

function newestSource(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const file = `${dir}/${entry.name}`;
    if (entry.isDirectory()) newest = Math.max(newest, newestSource(file));
    else if (/\.(ts|mjs|json)$/.test(entry.name)) newest = Math.max(newest, statSync(file).mtimeMs);
  }
  return newest;
}

const bundleIsFresh =
  existsSync(bundle) && existsSync(sources) &&
  statSync(bundle).mtimeMs >= Math.max(...JSON.parse(readFileSync(sources, "utf8")).map((d) => newestSource(`${root}${d}`)));
if (bundleIsFresh) await import(bundle);
else {
  const { register } = await import("tsx/esm/api");
  register();
  await import("../runtime/cli/main.ts");
}
