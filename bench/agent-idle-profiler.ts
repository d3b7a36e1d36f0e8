/**
 * What the idle profiler costs the requests it yields to (issue 26, point 6): one agent host
 * (onnxruntime, sessions in the main thread as `evoflow agent` defaults to, or in `--workers N`
 * session workers, where loads run in the idle class then at nice 19) serving a model
 * (MLP 784-128-10, batch 1) at a light load — a request every `gapMs` ms, so utilisation stays
 * under the 40% threshold and the profiler keeps working between requests — while unprofiled
 * models (MLP 784-512-512-10) wait in the registry. Turns of a second with the profiler on and
 * off, alternating, so the shared machine's load falls on both alike. A request that arrives
 * mid-run waits for that one profiling run (batch up to 32); the figures say how long that is.
 * Also: models profiled, runs and pauses, and the time a profile took.
 * Writes bench/results/agent-idle-profiler[-workersN].json and .md.
 *
 * Run: node --import tsx bench/agent-idle-profiler.ts [--turns 10] [--gap-ms 20] [--turn-ms 2000] [--workers 0]
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ModelHost } from "../gpu-agent/host";
import { IdleProfiler } from "../gpu-agent/idle-profiler";
import { OnnxRuntimeBackend } from "../gpu-agent/onnxruntime";
import { LocalModels } from "../gpu-agent/service";
import { FsModelRegistry } from "../runtime/registry/fs";
import { makeMlp, randomFloats } from "../test/fixtures/mlp";
import { benchDir, latencySummary, machine, numberArg, round } from "./agent-bench-lib";

const turns = numberArg("turns", 10);
const gapMs = numberArg("gap-ms", 20);
/** Session worker threads (`evoflow agent --workers`): 0 runs sessions, and loads, in the main thread. */
const workers = numberArg("workers", 0);
const resultName = `agent-idle-profiler${workers ? `-workers${workers}` : ""}`;
const TURN_MS = numberArg("turn-ms", 2000);
/** Timed run time per batch size: short enough that a model is done within a turn (the profiler starts afresh each turn). */
const DURATION_MS = 200;
const TARGETS = 12;

const dir = mkdtempSync(join(tmpdir(), "evoflow-idleprof-bench-"));
const registry = new FsModelRegistry(join(dir, "registry"));
const served = makeMlp({ sizes: [784, 128, 10], seed: 1 });
await registry.register({ name: "served", artifact: served.bytes });
await registry.putProfile("served", 1, { runtime: "bench", executionProvider: "cpu", warmupBatches: 0, durationSeconds: 0, loadRssDeltaBytes: 0, loadMs: 0, results: [], host: { platform: "", arch: "", cpus: 1, cpuModel: "", node: "" }, createdAt: new Date().toISOString() });
for (let i = 0; i < TARGETS; i++) await registry.register({ name: `target${i}`, artifact: makeMlp({ sizes: [784, 512, 512, 10], seed: 10 + i }).bytes });
const host = new ModelHost({ backend: new OnnxRuntimeBackend({ executionProvider: "cpu", intraOpThreads: 1, workers }), memoryBytes: 512e6, cacheDir: join(dir, "cache"), source: LocalModels.registrySource(registry) });
const x = { input: { dtype: "float32" as const, shape: [1, 784], data: randomFloats(784, 3) } };
for (let i = 0; i < 200; i++) await host.infer("served", 1, x);

const latencies: Record<"on" | "off", number[]> = { on: [], off: [] };
const totals = { runs: 0, pauses: 0, profiled: 0, profilingMs: 0 };
for (let turn = 0; turn < 2 * turns; turn++) {
  const mode = turn % 2 === 0 ? "on" : "off";
  const profiler = mode === "on" ? new IdleProfiler({ host, registry, durationMs: DURATION_MS }) : undefined;
  profiler?.start();
  const end = performance.now() + TURN_MS;
  while (performance.now() < end) {
    const t0 = performance.now();
    await host.infer("served", 1, x);
    latencies[mode].push(performance.now() - t0);
    await new Promise((r) => setTimeout(r, gapMs));
  }
  if (profiler) {
    const s = profiler.status();
    totals.runs += s.runs;
    totals.pauses += s.pauses;
    totals.profiled += s.profiled;
    totals.profilingMs += TURN_MS;
    await profiler.stop();
  }
}
const stored = await Promise.all(Array.from({ length: TARGETS }, (_, i) => registry.get(`target${i}`, 1)));
const profiles = stored.filter((v) => v?.profile).map((v) => ({ model: v!.name, results: v!.profile!.results.map((r) => ({ batch: r.batchSize, p50: round(r.latencyMs.p50), p99: round(r.latencyMs.p99) })) }));
await host.close();
await registry.close();

const result = { machine: machine(), turns, gapMs, on: latencySummary(latencies.on), off: latencySummary(latencies.off), maxMs: { on: round(Math.max(...latencies.on)), off: round(Math.max(...latencies.off)) }, profiler: totals, profiles };
writeFileSync(join(benchDir, `results/${resultName}.json`), `${JSON.stringify(result, null, 2)}\n`);
const row = (m: "on" | "off") => `| ${m} | ${result[m].count} | ${result[m].p50} | ${result[m].p99} | ${result[m].mean} | ${result.maxMs[m]} |`;
writeFileSync(
  join(benchDir, `results/${resultName}.md`),
  `# What the idle profiler costs the requests it yields to

Command: \`node --import tsx bench/agent-idle-profiler.ts --turns ${turns} --gap-ms ${gapMs} --turn-ms ${TURN_MS} --workers ${workers}\` — ${new Date().toISOString()}

Machine: ${result.machine.cpu}, ${result.machine.cores} cores, Node ${result.machine.node}; 1-minute load average at the end ${result.machine.loadAverage1m} (the machine is shared with other jobs).

One agent host (onnxruntime, ${workers ? `sessions in ${workers} worker threads, loads in the idle class then at nice 19` : "sessions in the main thread"}) serving \`served\` (MLP 784-128-10, batch 1) one request every ${gapMs} ms — utilisation far under the 40% threshold, so the profiler works between requests — while ${TARGETS} unprofiled models (MLP 784-512-512-10) wait in the registry (profiled at batch 1, 8, 32 for ${DURATION_MS} ms of runs each); turns of ${TURN_MS / 1000} s with the idle profiler on and off, alternating, ${turns} each. Request latency in ms:

| profiler | requests | p50 | p99 | mean | max |
| --- | ---: | ---: | ---: | ---: | ---: |
${row("on")}
${row("off")}

With the profiler on: ${totals.profiled} models profiled in ${totals.profilingMs / 1000} s of turns, ${totals.runs} profiling runs, ${totals.pauses} pauses mid-model (each drops the run a request arrived during). A request arriving during a profiling run waits for that run: the difference between the rows is that wait.

Profiles measured (ms per batch):

${profiles.map((p) => `- ${p.model}: ${p.results.map((r) => `batch ${r.batch} p50 ${r.p50} / p99 ${r.p99}`).join("; ")}`).join("\n")}
`,
);
console.log(JSON.stringify({ on: result.on, off: result.off, maxMs: result.maxMs, profiler: totals }, null, 2));
