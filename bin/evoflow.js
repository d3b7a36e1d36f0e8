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
import { workerLaunchFlags } from "../runtime/cli/worker-launch.mjs";

// `evoflow worker` needs V8 flags that only apply at start (runtime/cli/worker-launch.mjs), and
// Node 20 cannot exec itself: this process stays as a launcher that loads nothing more,
// passes signals on and exits as the worker does. A launcher killed outright takes its worker
// with it the same way (SIGKILL, once their IPC channel closes): no worker outlives what
// started it, and killing `evoflow worker` is still a crash, as fault tests need.
const launchFlags = process.argv[2] === "worker" && !process.env.EVOFLOW_WORKER_LAUNCHED ? workerLaunchFlags(process.execArgv, process.env.NODE_OPTIONS) : undefined;
if (launchFlags) {
  const { spawn } = await import("node:child_process");
  const worker = spawn(process.execPath, [...launchFlags, fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    stdio: ["inherit", "inherit", "inherit", "ipc"],
    env: { ...process.env, EVOFLOW_WORKER_LAUNCHED: "1" },
  });
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) process.on(signal, () => worker.kill(signal));
  worker.once("exit", (code, signal) => {
    if (signal) {
      process.removeAllListeners(signal);
      process.kill(process.pid, signal);
    } else process.exit(code ?? 1);
  });
} else {
  if (process.env.EVOFLOW_WORKER_LAUNCHED && process.channel) {
    delete process.env.EVOFLOW_WORKER_LAUNCHED;
    process.channel.unref();
    process.once("disconnect", () => process.kill(process.pid, "SIGKILL"));
  }
  await runCli();
}

async function runCli() {
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
}
