/**
 * 10,000 models in one agent (issue 24, point 4). Registers `--models` small generated ONNX
 * MLPs (each its own weights) in a file-system registry and promotes each, then measures:
 *   - the registry: `list()` (every model) and `get(name, "champion")` p50/p99;
 *   - the agent (a ModelHost fed from that registry, in this process): memory per registered
 *     model it knows of but has not loaded (heap after assigning all, less before, per model;
 *     target ≤ 10 KB), and that it read none of them on start;
 *   - the first request of a model assigned but not resident (swap-in: evict, load, run) p50/p99;
 *   - requests to a hot set of 1 % of the models, with every other model cold and assigned,
 *     against the same requests on a host that holds only the hot set: p50/p99.
 * Peak RSS beside them. Writes bench/results/agent-many-models.{json,md}.
 *
 * Run: node --expose-gc --import tsx bench/agent-many-models.ts [--models 10000] [--requests 20000]
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SingleBar } from "cli-progress";
import { ModelHost } from "../gpu-agent/host";
import { OnnxRuntimeBackend } from "../gpu-agent/onnxruntime";
import { LocalModels } from "../gpu-agent/service";
import { FsModelRegistry } from "../runtime/registry/fs";
import { makeMlp, randomFloats } from "../test/fixtures/mlp";
import { benchDir, latencySummary, machine, mb, numberArg, round } from "./agent-bench-lib";

const count = numberArg("models", 10_000);
const requests = numberArg("requests", 20_000);
const hotCount = Math.max(1, Math.round(count / 100));
const dir = mkdtempSync(join(tmpdir(), "evoflow-many-models-"));
const gc = () => (globalThis as { gc?: () => void }).gc?.();
const heap = () => (gc(), process.memoryUsage().heapUsed);
let peakRss = 0;
const sampleRss = () => (peakRss = Math.max(peakRss, process.memoryUsage.rss()));
const sampler = setInterval(sampleRss, 50);

function progress(label: string, total: number) {
  const bar = new SingleBar({ format: `${label.padEnd(22)} [{bar}] {value}/{total} {duration}s`, hideCursor: true, noTTYOutput: true, stream: process.stderr, etaBuffer: 100 });
  bar.start(total, 0);
  return bar;
}

const registry = new FsModelRegistry(join(dir, "registry"));
const names = Array.from({ length: count }, (_, i) => `m${String(i).padStart(5, "0")}`);
const input = randomFloats(8, 1);
let bar = progress("register + promote", count);
const registerStart = performance.now();
for (const [i, name] of names.entries()) {
  await registry.register({ name, artifact: makeMlp({ sizes: [8, 4, 2], seed: i + 1 }).bytes });
  await registry.promote(name, 1);
  bar.increment();
}
bar.stop();
const registerSeconds = (performance.now() - registerStart) / 1000;

const listMs: number[] = [];
for (let r = 0; r < 3; r++) {
  const t = performance.now();
  const listed = await registry.list();
  listMs.push(performance.now() - t);
  if (listed.length !== count) throw new Error(`list() gave ${listed.length} models, not ${count}`);
}
const getMs: number[] = [];
for (let i = 0; i < 2000; i++) {
  const name = names[(i * 7919) % count];
  const t = performance.now();
  const v = await registry.get(name, "champion");
  getMs.push(performance.now() - t);
  if (v?.version !== 1) throw new Error(`get(${name}, champion) gave ${v?.version}`);
}

// The agent: a budget for a little more than the hot set (each model's estimate is ~2 MB + 2× its file).
const newHost = (cacheDir: string) =>
  new ModelHost({ backend: new OnnxRuntimeBackend({ executionProvider: "cpu" }), memoryBytes: (hotCount + 8) * 2.2e6, cacheDir, source: LocalModels.registrySource(registry) });
const heapBeforeHost = heap();
const host = newHost(join(dir, "cache"));
const readOnStart = host.list().length;
bar = progress("assign (not load)", count);
for (const name of names) {
  await host.ensureAssigned(name, 1);
  bar.increment();
}
bar.stop();
const perModelBytes = (heap() - heapBeforeHost) / count;

const infer = (h: ModelHost, name: string) => h.infer(name, 1, { input: { dtype: "float32", shape: [1, 8], data: input } });
// First requests of cold models, spread over the set (the hot set is left cold for later).
const coldMs: number[] = [];
const coldSample = Math.min(1000, count - hotCount);
bar = progress("first requests (cold)", coldSample);
for (let i = 0; i < coldSample; i++) {
  const name = names[hotCount + Math.floor((i * (count - hotCount)) / coldSample)];
  const t = performance.now();
  await infer(host, name);
  coldMs.push(performance.now() - t);
  bar.increment();
}
bar.stop();

// The hot set, on this host (every other model assigned and cold) and on one that knows only it.
const hot = names.slice(0, hotCount);
const onlyHot = newHost(join(dir, "cache-hot"));
for (const name of hot) await infer(onlyHot, name);
for (const name of hot) await infer(host, name);
const hotMs = { many: [] as number[], few: [] as number[] };
bar = progress("hot-set requests", requests * 2);
for (let i = 0; i < requests; i++) {
  const name = hot[(i * 31) % hotCount];
  for (const [which, h] of (i % 2 ? [["many", host], ["few", onlyHot]] : [["few", onlyHot], ["many", host]]) as ["many" | "few", ModelHost][]) {
    const t = performance.now();
    await infer(h, name);
    hotMs[which].push(performance.now() - t);
    bar.increment();
  }
}
bar.stop();
const status = host.status();
clearInterval(sampler);
sampleRss();
await host.close();
await onlyHot.close();
await registry.close();

const summary = (xs: number[]) => {
  const s = latencySummary(xs);
  return { p50: round(s.p50, 3), p99: round(s.p99, 3) };
};
const hotMany = summary(hotMs.many);
const hotFew = summary(hotMs.few);
const command = `node --expose-gc --import tsx bench/agent-many-models.ts --models ${count} --requests ${requests}`;
const report = {
  benchmark: "agent-many-models", date: new Date().toISOString(), command, machine: machine(), models: count, hotSet: hotCount,
  registerSeconds: round(registerSeconds, 1), registry: { listMs: listMs.map((v) => round(v, 1)), get: summary(getMs) },
  agent: { assignedOnStart: readOnStart, perAssignedModelBytes: Math.round(perModelBytes), coldFirstRequestMs: summary(coldMs), loads: status.loads, evictions: status.evictions },
  hotSetMs: { withAllAssigned: hotMany, onlyHotSet: hotFew, p99Ratio: round(hotMany.p99 / hotFew.p99) },
  peakRssMb: mb(peakRss),
};
writeFileSync(join(benchDir, "results/agent-many-models.json"), `${JSON.stringify(report, null, 2)}\n`);
const m = report.machine;
const md = `# ${count.toLocaleString("en")} models in one agent

Command: \`${command}\` — ${report.date}

Machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGB} GB, Node ${m.node}; 1-minute load average at the end ${m.loadAverage1m} (the machine is shared with other jobs).

${count.toLocaleString("en")} generated MLPs (8-4-2, each its own weights, ${makeMlp({ sizes: [8, 4, 2], seed: 1 }).bytes.byteLength} bytes) registered in a file-system registry and promoted (${report.registerSeconds} s), served by one ModelHost (onnxruntime-node, CPU) fed from it, with a budget for ${hotCount} + 8 models (a hot set of 1 %).

| measure | value | target |
| --- | ---: | --- |
| registry \`list()\` of every model (3 runs, ms) | ${report.registry.listMs.join(" / ")} | |
| registry \`get(name, "champion")\` p50 / p99 (ms) | ${report.registry.get.p50} / ${report.registry.get.p99} | |
| models the agent read on start | ${readOnStart} | 0 |
| agent memory per model assigned but not loaded | ${(perModelBytes / 1024).toFixed(2)} KB | ≤ 10 KB |
| first request of a cold model (load, evicting an idle one, and run) p50 / p99 (ms) | ${report.agent.coldFirstRequestMs.p50} / ${report.agent.coldFirstRequestMs.p99} | |
| hot set, every other model assigned, p50 / p99 (ms) | ${hotMany.p50} / ${hotMany.p99} | |
| hot set, a host holding only it, p50 / p99 (ms) | ${hotFew.p50} / ${hotFew.p99} | |
| hot-set p99, many / only hot | ${report.hotSetMs.p99Ratio}× | |

Loads ${status.loads}, evictions ${status.evictions}. Peak RSS ${report.peakRssMb} MB (the registry, both hosts and their resident sessions).
`;
writeFileSync(join(benchDir, "results/agent-many-models.md"), md);
process.stdout.write(md);
