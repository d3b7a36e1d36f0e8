/**
 * Synaptic Intelligence and the online learners beside the batch strategies, on the CL demo's
 * Fashion-MNIST stream (bench/cl-demo.ts; reduced by default: the machine is shared).
 * Writes bench/results/cl-strategies-reduced.{json,md,svg}.
 *
 *   node --import tsx bench/cl-strategies.ts [--full] [--out bench/results]
 */
import { mkdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import cliProgress from "cli-progress";
import { demoChartSvg } from "./cl-chart";
import { defaultDemoOptions, runClDemo, type StrategyName } from "./cl-demo";

const args = process.argv.slice(2);
const full = args.includes("--full");
const outDir = args.includes("--out") ? args[args.indexOf("--out") + 1] : "bench/results";
const strategies: StrategyName[] = ["static", "stateless", "stateful", "stateful-si", "online-logreg", "online-tree"];

async function main() {
  const started = Date.now();
  const loadAtStart = os.loadavg().map((l) => +l.toFixed(2));
  mkdirSync(outDir, { recursive: true });
  const options = { ...defaultDemoOptions(!full), strategies };
  const total = options.phases.reduce((a, p) => a + p.count, 0);
  const bars = new cliProgress.MultiBar({ format: "{strategy} |{bar}| {value}/{total} requests {note}", clearOnComplete: false, hideCursor: true }, cliProgress.Presets.shades_classic);
  const progress = new Map<string, cliProgress.SingleBar>();
  const result = await runClDemo({
    ...options,
    onProgress: (strategy, done, _t, note) => {
      let bar = progress.get(strategy);
      if (!bar) progress.set(strategy, (bar = bars.create(total, 0, { strategy: strategy.padEnd(13), note: "" })));
      bar.update(done, { note: note ?? "" });
    },
  });
  bars.stop();
  const name = full ? "cl-strategies" : "cl-strategies-reduced";
  const machine = { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, memoryGB: Math.round(os.totalmem() / 2 ** 30), node: process.version };
  const peakRssMB = Math.round(process.resourceUsage().maxRSS / 1024);
  const loadAtEnd = os.loadavg().map((l) => +l.toFixed(2));
  const command = `node --import tsx bench/cl-strategies.ts${full ? " --full" : ""}`;
  const record = { benchmark: "CL strategies incl. Synaptic Intelligence and online learners, Fashion-MNIST", command, date: new Date().toISOString(), machine, peakRssMB, wallSeconds: (Date.now() - started) / 1000, loadAverage: { atStart: loadAtStart, atEnd: loadAtEnd }, ...result };
  writeFileSync(path.join(outDir, `${name}.json`), JSON.stringify(record, null, 2) + "\n");
  writeFileSync(path.join(outDir, `${name}.svg`), demoChartSvg(result, `Fashion-MNIST stream: batch, SI and online strategies${full ? "" : " (reduced stream)"}`));
  const pct = (v: number) => (Number.isNaN(v) ? "-" : `${(100 * v).toFixed(1)}%`);
  const rows = result.strategies.map(
    (s) =>
      `| ${s.strategy} | ${pct(s.finalAccuracy)} | ${pct(s.finalStreamAccuracy)} | ${pct(s.cl.averageAccuracy)} | ${s.cl.bwt.toFixed(3)} | ${s.strategy.startsWith("online") ? "every label" : `${s.compute.trainings} (${s.updates.filter((u) => u.decision === "promoted").length} promoted)`} | ${s.compute.trainingSeconds.toFixed(1)} | ${s.compute.samplesSeen.toLocaleString("en")} |`,
  );
  const md = `# CL strategies on Fashion-MNIST, with Synaptic Intelligence and online learners${full ? "" : " (reduced stream)"}

Command: \`${command}\`, ${record.date}.
Machine: ${machine.cpus} × ${machine.cpuModel}, ${machine.memoryGB} GB, Node ${machine.node}, shared with other sessions. Peak RSS of the benchmark process: ${peakRssMB} MB (training child processes not included). Wall time ${record.wallSeconds.toFixed(0)} s. Load average (1, 5, 15 min): ${loadAtStart.join(", ")} at the start, ${loadAtEnd.join(", ")} at the end.

Stream and batch strategies as in [cl-fashion-mnist${full ? "" : "-reduced"}.md](cl-fashion-mnist${full ? "" : "-reduced"}.md) (same code, bench/cl-demo.ts). **stateful-si**: the stateful recipe (warm start, class-balanced replay) with Synaptic Intelligence (c ${result.options.si?.strength ?? 0.1}, ξ ${result.options.si?.damping ?? 0.001}) in place of online EWC; its path integral starts with the first update (the first champion was trained without it). **online-logreg / online-tree**: model.online's learners with River's defaults (LogisticRegression SGD(0.01) one-vs-rest; HoeffdingTreeClassifier grace 200, δ 1e-7, τ 0.05, NBA leaves, Gaussian splitters); each first learns the first champion's ${result.initial.samples} examples, then answers every request from its current state and learns every label as it arrives (same delay and holdout share); no trigger and no gate, so its training seconds are the time spent in learn_one.

![windowed accuracy](${name}.svg)

| strategy | final accuracy (last experience's test set) | stream accuracy, 2nd half of last phase | Avalanche avg accuracy | BWT | trainings | training s | training samples |
| --- | --- | --- | --- | --- | --- | --- | --- |
${rows.join("\n")}
`;
  writeFileSync(path.join(outDir, `${name}.md`), md);
  process.stdout.write(md);
}

await main();
