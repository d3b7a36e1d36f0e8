/**
 * `npm run demo:cl` — the continual-learning demo and benchmark on Fashion-MNIST, headless.
 * Writes bench/results/cl-fashion-mnist.json, .svg (windowed accuracy over time for the
 * static / stateless / stateful strategies, with each one's training compute) and .md.
 * Also measures serving interference: p99 of an Evoflow serving pipeline (io.http →
 * model.onnx) with no training, while the trainer's child process trains, and (for
 * contrast) while training runs inside the serving process.
 *
 *   node --import tsx bench/cl-fashion-mnist.ts [--reduced] [--out bench/results]
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import cliProgress from "cli-progress";
import { createInProcessAgent } from "../gpu-agent/in-process";
import { indicesOfClasses, loadFashionMnist, subset } from "../runtime/cl/fashion-mnist";
import { train, trainConfigSchema } from "../runtime/cl/train";
import { stopIdleTrainer, trainInChildProcess } from "../runtime/cl/trainer-process";
import { tensor } from "../runtime/ports";
import { FsModelRegistry } from "../runtime/registry/fs";
import { Runtime } from "../runtime/runtime";
import { demoChartSvg } from "./cl-chart";
import { defaultDemoOptions, runClDemo, type DemoResult } from "./cl-demo";

const args = process.argv.slice(2);
const reduced = args.includes("--reduced");
const outDir = args.includes("--out") ? args[args.indexOf("--out") + 1] : "bench/results";

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
}

function latencyStats(times: number[]) {
  const s = [...times].sort((a, b) => a - b);
  return { requests: s.length, p50Ms: quantile(s, 0.5), p99Ms: quantile(s, 0.99), maxMs: s.at(-1)! };
}

/** Serving p99 through a real pipeline, idle vs. while a training job runs (child process, then in-process). */
async function interference(requests: number) {
  const dir = mkdtempSync(path.join(os.tmpdir(), "evoflow-cl-interference-"));
  const registry = new FsModelRegistry(path.join(dir, "registry"));
  const runtime = new Runtime({ dataDir: dir, services: { registry, models: createInProcessAgent({ dataDir: dir, registry }) } });
  try {
    const trainSplit = loadFashionMnist("train");
    const first = await train({ config: trainConfigSchema.parse({ epochs: 1, architecture: { hidden: [64] } }), data: subset(trainSplit, indicesOfClasses(trainSplit, [0, 1, 2, 3, 4]).slice(0, 2000)) });
    const v = await registry.register({ name: "serve", artifact: first.onnx });
    await registry.promote("serve", v.version);
    const running = await runtime.deploy({
      apiVersion: "evoflow/v1",
      name: "serve",
      nodes: [
        { id: "in", type: "io.http", config: { name: "classify" } },
        { id: "model", type: "model.onnx", config: { model: "serve@champion", maxBatchSize: 1 } },
      ],
      edges: [{ from: "in.out", to: "model.in", mode: "sync" }],
    });
    const entry = running.entrypoints.get("classify")!;
    const test = loadFashionMnist("test");
    /**
     * Open-loop load: request k is due at start + k / rate whether or not earlier ones have
     * answered, and its latency runs from when it was due, so time the event loop spends
     * blocked (e.g. by training in the same process) counts, as it would for real clients.
     */
    const serve = async (rate: number, until: () => boolean, minRequests: number) => {
      const times: number[] = [];
      const inFlight = new Set<Promise<void>>();
      const start = performance.now();
      for (let k = 0; k < minRequests || !until(); k++) {
        const due = start + (k * 1000) / rate;
        const wait = due - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        const i = k % test.count;
        // Timers may fire a little early: then the request counts from when it was really sent.
        const sentAt = Math.min(due, performance.now());
        const p = entry.invoke(tensor("float32", [1, 784], test.x.slice(i * 784, (i + 1) * 784))).then(() => void times.push(performance.now() - sentAt));
        inFlight.add(p);
        void p.finally(() => inFlight.delete(p));
      }
      await Promise.all(inFlight);
      return times;
    };
    const rate = 500;
    await serve(rate, () => true, 500); // warm-up
    // Idle is measured before and after the training run (other work on the machine varies over time).
    const idleTimes = await serve(rate, () => true, requests / 2);
    // A stateless-size job: 12,000 examples, 3 epochs.
    const job = { config: trainConfigSchema.parse({ mode: "stateless", epochs: 3, architecture: { hidden: [64] } }), data: subset(trainSplit, Array.from({ length: 12_000 }, (_, i) => i)) };
    /** Serving latencies while the job trains in the trainer's child process. */
    const duringChildTraining = async () => {
      let done = false;
      const t0 = performance.now();
      const training = trainInChildProcess(job).then((r) => ((done = true), r));
      const times = await serve(rate, () => done, 1);
      return { times, trainingSeconds: (await training).trainingMs / 1000, wallSeconds: (performance.now() - t0) / 1000 };
    };
    // First a job whose process starts for it (as after a quiet spell), then one in the process kept from it.
    stopIdleTrainer();
    const coldChild = await duringChildTraining();
    const keptChild = await duringChildTraining();
    idleTimes.push(...(await serve(rate, () => true, requests / 2)));
    const idle = latencyStats(idleTimes);
    const childRow = (run: typeof coldChild) => {
      const stats = latencyStats(run.times);
      return { ...stats, trainingSeconds: run.trainingSeconds, wallSeconds: run.wallSeconds, p99Ratio: stats.p99Ms / idle.p99Ms };
    };
    stopIdleTrainer();
    let done = false;
    const inProcess = train(job).then(() => (done = true));
    const duringInProcess = latencyStats(await serve(rate, () => done, 1));
    await inProcess;
    return {
      pipeline: `io.http → model.onnx (sync, in-process agent on onnxruntime-node), open-loop load of ${rate} requests/s, latency from when each request was due`,
      idle,
      trainingInChildProcess: childRow(keptChild),
      trainingInNewChildProcess: childRow(coldChild),
      trainingInServingProcess: { ...duringInProcess, p99Ratio: duringInProcess.p99Ms / idle.p99Ms },
    };
  } finally {
    await runtime.close();
    await registry.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

function statefulDescription(o: DemoResult["options"]["stateful"]): string {
  const replay = o.batchSizeMem ? `each minibatch of ${o.batchSize ?? 64} new examples joined by ${o.batchSizeMem} drawn from a class-balanced replay buffer of ${o.memSize}` : `minibatches of ${o.batchSize ?? 64} over the new examples plus a class-balanced replay buffer of ${o.memSize}`;
  const regulariser = o.ewc ? `online EWC (λ ${o.ewc.lambda}, decay ${o.ewc.decay}${o.ewc.importanceSamples ? `, importance from ${o.ewc.importanceSamples} examples` : ""})` : o.lwf ? `LwF (α ${o.lwf.alpha}, T ${o.lwf.temperature})` : "no regulariser";
  return `warm start from the champion on ${o.maxSamples ? `the newest ≤ ${o.maxSamples} examples` : "every example"} labelled since its last promoted training, ${o.epochs} epoch${o.epochs === 1 ? "" : "s"} (${o.optimizer === "momentum" ? "SGD with momentum" : "Adam"}, learning rate ${o.learningRate ?? 0.001}), ${replay}, ${regulariser}`;
}

async function main() {
  const started = Date.now();
  const loadAtStart = os.loadavg().map((l) => +l.toFixed(2));
  mkdirSync(outDir, { recursive: true });
  const bars = new cliProgress.MultiBar({ format: "{strategy} |{bar}| {value}/{total} requests {note}", clearOnComplete: false, hideCursor: true }, cliProgress.Presets.shades_classic);
  const options = defaultDemoOptions(reduced);
  const total = options.phases.reduce((a, p) => a + p.count, 0);
  const progress = new Map<string, cliProgress.SingleBar>();
  const result: DemoResult = await runClDemo({
    ...options,
    onProgress: (strategy, done, _total, note) => {
      let bar = progress.get(strategy);
      if (!bar) progress.set(strategy, (bar = bars.create(total, 0, { strategy: strategy.padEnd(9), note: "" })));
      bar.update(done, { note: note ?? "" });
    },
  });
  bars.stop();
  process.stderr.write("measuring serving interference…\n");
  const loadBeforeServing = os.loadavg().map((l) => +l.toFixed(2));
  const serving = await interference(reduced ? 2500 : 5000);
  const loadAtEnd = os.loadavg().map((l) => +l.toFixed(2));

  const by = Object.fromEntries(result.strategies.map((s) => [s.strategy, s]));
  const targets = {
    statefulWithinOnePointOfStateless: by.stateful.finalAccuracy >= by.stateless.finalAccuracy - 0.01,
    statefulComputeRatio: by.stateful.compute.samplesSeen / by.stateless.compute.samplesSeen,
    statefulComputeSecondsRatio: by.stateful.compute.trainingSeconds / by.stateless.compute.trainingSeconds,
    statefulAtMostTenthCompute: by.stateful.compute.samplesSeen <= by.stateless.compute.samplesSeen / 10,
    bothBeatStaticAfterShift: by.stateful.finalAccuracy > by.static.finalAccuracy && by.stateless.finalAccuracy > by.static.finalAccuracy,
    interferenceP99Ratio: serving.trainingInChildProcess.p99Ratio,
    interferenceP99RatioNewProcess: serving.trainingInNewChildProcess.p99Ratio,
    interferenceWithin1_3x: serving.trainingInChildProcess.p99Ratio <= 1.3,
  };
  const machine = { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, memoryGB: Math.round(os.totalmem() / 2 ** 30), node: process.version, platform: `${os.platform()} ${os.arch()}` };
  const peakRssMB = Math.round(process.resourceUsage().maxRSS / 1024);
  const name = reduced ? "cl-fashion-mnist-reduced" : "cl-fashion-mnist";
  const record = { benchmark: "continual learning on Fashion-MNIST", command: `node --import tsx bench/cl-fashion-mnist.ts${reduced ? " --reduced" : ""}`, date: new Date().toISOString(), machine, peakRssMB, wallSeconds: (Date.now() - started) / 1000, loadAverage: { atStart: loadAtStart, beforeServing: loadBeforeServing, atEnd: loadAtEnd }, targets, serving, ...result };
  writeFileSync(path.join(outDir, `${name}.json`), JSON.stringify(record, null, 2) + "\n");
  writeFileSync(path.join(outDir, `${name}.svg`), demoChartSvg(result, `Fashion-MNIST stream: windowed accuracy by strategy${reduced ? " (reduced stream)" : ""}`));

  const pct = (v: number) => `${(100 * v).toFixed(1)}%`;
  const rows = result.strategies.map((s) => `| ${s.strategy} | ${pct(s.finalAccuracy)} | ${pct(s.finalStreamAccuracy)} | ${isNaN(s.cl.averageAccuracy) ? "-" : pct(s.cl.averageAccuracy)} | ${s.cl.bwt.toFixed(3)} | ${s.compute.trainings} (${s.updates.filter((u) => u.decision === "promoted").length} promoted) | ${s.compute.trainingSeconds.toFixed(1)} | ${s.compute.samplesSeen.toLocaleString("en")} | ${s.timeToPromotion.map((t) => (t.samples === undefined ? "never" : `${t.samples} req, ${t.seconds!.toFixed(1)} s`)).join("; ")} |`);
  const md = `# Continual learning on Fashion-MNIST${reduced ? " (reduced stream)" : ""}

Command: \`${record.command}\` (\`npm run demo:cl\`), ${record.date}.
Machine: ${machine.cpus} × ${machine.cpuModel}, ${machine.memoryGB} GB, Node ${machine.node}. Peak RSS of the benchmark process: ${peakRssMB} MB (training child processes not included). Wall time ${record.wallSeconds.toFixed(0)} s. Load average (1, 5, 15 min): ${loadAtStart.join(", ")} at the start, ${loadBeforeServing.join(", ")} before the serving measurement, ${loadAtEnd.join(", ")} at the end.

Stream: ${result.options.phases.map((p) => `${p.count} × ${p.name}`).join(" → ")}; labels arrive ${result.options.labelDelay} requests late; the first champion (MLP 784-${result.options.hidden.join("-")}-10) knows classes 0–4 (${result.initial.samples} examples). Trigger: rolling accuracy over ${result.options.trigger.window} labelled predictions under ${result.options.trigger.threshold}, cooldown ${result.options.trigger.cooldown} requests. Every candidate goes through the validator gate and the fs registry. Stateless: from scratch on every labelled example so far, ${result.options.stateless.epochs} epochs. Stateful: ${statefulDescription(result.options.stateful)}.

![windowed accuracy](${name}.svg)

| strategy | final accuracy (last experience's test set) | stream accuracy, 2nd half of last phase | Avalanche avg accuracy | BWT | trainings | training s | training samples | shift → promoted champion |
| --- | --- | --- | --- | --- | --- | --- | --- | --- |
${rows.join("\n")}

Targets: stateful within 1 point of stateless: **${targets.statefulWithinOnePointOfStateless ? "yes" : "no"}** (${pct(by.stateful.finalAccuracy)} vs ${pct(by.stateless.finalAccuracy)}); stateful compute / stateless: **${targets.statefulComputeRatio.toFixed(3)}** in samples, ${targets.statefulComputeSecondsRatio.toFixed(3)} in seconds (target ≤ 0.1); both beat static after the shift: **${targets.bothBeatStaticAfterShift ? "yes" : "no"}**.

Time from shift to promoted champion counts requests served from the shift until the promotion (labels arrive late and the trigger needs ${result.options.trigger.minOutcomes} outcomes) and the seconds of training + validation + promotion; the stream waits while a model trains, so all three strategies see the same requests.

## Serving interference (same run)

${serving.pipeline}.

| condition | requests | p50 ms | p99 ms | p99 / idle |
| --- | --- | --- | --- | --- |
| no training | ${serving.idle.requests} | ${serving.idle.p50Ms.toFixed(3)} | ${serving.idle.p99Ms.toFixed(3)} | 1 |
| training in the trainer's child process (nice 10), kept from its previous job | ${serving.trainingInChildProcess.requests} | ${serving.trainingInChildProcess.p50Ms.toFixed(3)} | ${serving.trainingInChildProcess.p99Ms.toFixed(3)} | **${serving.trainingInChildProcess.p99Ratio.toFixed(2)}** (target ≤ 1.3) |
| training in the trainer's child process (nice 10), started for the job (fork) | ${serving.trainingInNewChildProcess.requests} | ${serving.trainingInNewChildProcess.p50Ms.toFixed(3)} | ${serving.trainingInNewChildProcess.p99Ms.toFixed(3)} | ${serving.trainingInNewChildProcess.p99Ratio.toFixed(2)} |
| training inside the serving process (for contrast) | ${serving.trainingInServingProcess.requests} | ${serving.trainingInServingProcess.p50Ms.toFixed(3)} | ${serving.trainingInServingProcess.p99Ms.toFixed(3)} | ${serving.trainingInServingProcess.p99Ratio.toFixed(2)} |
`;
  writeFileSync(path.join(outDir, `${name}.md`), md);
  process.stdout.write(md);
}

await main();
