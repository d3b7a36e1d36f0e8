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
import { spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import cliProgress from "cli-progress";
import { demoChartSvg } from "./cl-chart";
import { defaultDemoOptions, runClDemo, type DemoResult } from "./cl-demo";

const args = process.argv.slice(2);
const reduced = args.includes("--reduced");
const outDir = args.includes("--out") ? args[args.indexOf("--out") + 1] : "bench/results";

/** Serving p99 idle vs. while a training job runs, measured in a serving process of its own (bench/cl-interference.ts). */
function interference(requests: number): ReturnType<typeof JSON.parse> {
  const run = spawnSync(process.execPath, ["--import", "tsx", path.join(import.meta.dirname, "cl-interference.ts"), "--requests", String(requests)], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
  if (run.status !== 0) throw new Error(`bench/cl-interference.ts exited with ${run.status}`);
  return JSON.parse(run.stdout.trim().split("\n").at(-1)!);
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
  const serving = interference(reduced ? 2500 : 5000);
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
| training in the trainer's child process (idle scheduling class), kept from its previous job | ${serving.trainingInChildProcess.requests} | ${serving.trainingInChildProcess.p50Ms.toFixed(3)} | ${serving.trainingInChildProcess.p99Ms.toFixed(3)} | **${serving.trainingInChildProcess.p99Ratio.toFixed(2)}** (target ≤ 1.3) |
| training in the trainer's child process (idle scheduling class), started for the job | ${serving.trainingInNewChildProcess.requests} | ${serving.trainingInNewChildProcess.p50Ms.toFixed(3)} | ${serving.trainingInNewChildProcess.p99Ms.toFixed(3)} | ${serving.trainingInNewChildProcess.p99Ratio.toFixed(2)} |
| training inside the serving process (for contrast) | ${serving.trainingInServingProcess.requests} | ${serving.trainingInServingProcess.p50Ms.toFixed(3)} | ${serving.trainingInServingProcess.p99Ms.toFixed(3)} | ${serving.trainingInServingProcess.p99Ratio.toFixed(2)} |
`;
  writeFileSync(path.join(outDir, `${name}.md`), md);
  process.stdout.write(md);
}

await main();
