/**
 * `evoflow cl backtest` on the Fashion-MNIST CL example (pipelines/fashion-mnist-cl.json): the
 * stream its io.fashion-mnist node sends (its phases: classes 0–4, then all ten, then inverted
 * images; the same seeded draws), scaled by --scale, recorded as the labelled examples its
 * collector passes to the trainer, then replayed through the pipeline's own trainer.tfjs and
 * drift.ddm and control.trigger by the command's code. Message times are set at --per-hour
 * messages an hour: by default the pipeline's own rate, 200 a second, so its trigger's 15 s
 * cooldown means what it means when it runs (and --every-hours 0.001 is every 3.6 s). Writes
 * bench/results/cl-backtest-fashion-mnist[-reduced].{json,md,svg}.
 *
 *   node --import tsx bench/cl-backtest.ts [--scale 0.5] [--per-hour 720000] [--every-hours 0.001] [--out bench/results]
 */
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { backtestCommand } from "../nodes/continual-learning/backtest-cli";
import { imageRow, indicesOfClasses, loadFashionMnistImages } from "../nodes/continual-learning/fashion-mnist";
import fashionMnistNode from "../nodes/io/fashion-mnist";
import { commandHost } from "../runtime/cli/command-host";
import { seededRandom } from "../sdk/random";

const args = process.argv.slice(2);
const arg = (name: string, fallback: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : fallback);
const scale = Number(arg("--scale", "0.5"));
const perHour = Number(arg("--per-hour", "720000"));
const everyHours = arg("--every-hours", "0.001");
const outDir = arg("--out", "bench/results");
const PIPELINE = "pipelines/fashion-mnist-cl.json";
/** io.fashion-mnist's: the first 10,000 training images are its bootstrap's, the stream draws from the rest. */
const BOOTSTRAP_IMAGES = 10_000;
const START = Date.parse("2026-01-01T00:00:00Z");

/** The stream the pipeline's io.fashion-mnist node sends, as JSONL of labelled examples. */
async function recordStream(file: string): Promise<{ phases: { count: number; classes: number[]; shift: string }[]; count: number }> {
  const pipeline = JSON.parse(readFileSync(PIPELINE, "utf8")) as { nodes: { type: string; config: unknown }[] };
  const cfg = fashionMnistNode.config.parse(pipeline.nodes.find((n) => n.type === "io.fashion-mnist")!.config) as { phases: { count: number; classes: number[]; shift: "none" | "invert" | "rotate90" }[]; seed: number; poolSize: number };
  const phases = cfg.phases.map((p) => ({ ...p, count: Math.round(p.count * scale) }));
  const images = await loadFashionMnistImages("train", { from: BOOTSTRAP_IMAGES, to: cfg.poolSize });
  const random = seededRandom(cfg.seed);
  const lines: string[] = [];
  for (const p of phases) {
    const pool = indicesOfClasses(images, p.classes);
    for (let n = 0; n < p.count; n++) {
      const index = pool[Math.floor(random() * pool.length)];
      const x = Array.from(imageRow(images, index, p.shift), (v) => Number(v.toFixed(4)));
      lines.push(JSON.stringify({ x, y: images.y[index], ts: START + Math.round((lines.length * 3_600_000) / perHour) }));
    }
  }
  writeFileSync(file, lines.join("\n") + "\n");
  return { phases, count: lines.length };
}

async function main() {
  const started = Date.now();
  const loadAtStart = os.loadavg().map((l) => +l.toFixed(2));
  const data = mkdtempSync(path.join(os.tmpdir(), "evoflow-cl-backtest-"));
  try {
    const stream = await recordStream(path.join(data, "fashion-mnist-stream.jsonl"));
    const name = scale === 1 ? "cl-backtest-fashion-mnist" : "cl-backtest-fashion-mnist-reduced";
    const windowSize = Math.floor(stream.count / 6);
    const options = { data, input: "fashion-mnist-stream.jsonl", windows: "6", every: `${windowSize},${2 * windowSize}`, everyHours, out: name };
    const cliCommand = `evoflow cl backtest ${PIPELINE} --data DIR --input fashion-mnist-stream.jsonl --windows 6 --every ${options.every} --every-hours ${everyHours} --out ${name}`;
    const { result, files } = await backtestCommand(commandHost, PIPELINE, options);
    mkdirSync(outDir, { recursive: true });
    const machine = { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, memoryGB: Math.round(os.totalmem() / 2 ** 30), node: process.version };
    const peakRssMB = Math.round(process.resourceUsage().maxRSS / 1024);
    const loadAtEnd = os.loadavg().map((l) => +l.toFixed(2));
    const command = `node --import tsx bench/cl-backtest.ts --scale ${scale} --per-hour ${perHour} --every-hours ${everyHours}`;
    const doc = JSON.parse(readFileSync(files[0], "utf8")) as Record<string, unknown>;
    const record = { benchmark: "freshness backtest and retraining schedules on the Fashion-MNIST CL example", command, cliCommand, date: new Date().toISOString(), machine, peakRssMB, wallSeconds: (Date.now() - started) / 1000, loadAverage: { atStart: loadAtStart, atEnd: loadAtEnd }, stream: { ...stream, perHour }, ...doc };
    writeFileSync(path.join(outDir, `${name}.json`), JSON.stringify(record, null, 2) + "\n");
    copyFileSync(files[1], path.join(outDir, `${name}.svg`));
    const pct = (v: number) => `${(100 * v).toFixed(1)}%`;
    const fresh = result.freshness.map((f) => `| ${f.age} | ${f.window.from}–${f.window.to} | ${f.trainedOn} | ${pct(f.accuracy)} | ${f.cpuSeconds.toFixed(1)} | ${f.samplesSeen.toLocaleString("en")} |`);
    const sched = result.schedules.map((s) => `| ${s.schedule} | ${pct(s.accuracy)} | ${pct(s.recentAccuracy)} | ${s.trainings}${s.skipped ? ` (+${s.skipped} skipped)` : ""} | ${s.alarms ?? "-"} | ${s.cpuSeconds.toFixed(1)} | ${s.samplesSeen.toLocaleString("en")} |`);
    const md = `# Freshness backtest and retraining schedules: Fashion-MNIST CL example${scale === 1 ? "" : " (reduced stream)"}

Command: \`${command}\`, ${record.date}; it runs \`${cliCommand}\` (the command's own code, in process) on a recorded stream.
Machine: ${machine.cpus} × ${machine.cpuModel}, ${machine.memoryGB} GB, Node ${machine.node}, shared with other sessions. Peak RSS: ${peakRssMB} MB. Wall time ${record.wallSeconds.toFixed(0)} s. Load average (1, 5, 15 min): ${loadAtStart.join(", ")} at the start, ${loadAtEnd.join(", ")} at the end. One run.

Stream: the example's io.fashion-mnist phases scaled by ${scale} (${stream.phases.map((p) => `${p.count} × classes ${p.classes.join("")}${p.shift === "none" ? "" : ` ${p.shift}ed`}`).join(", then ")}; ${stream.count} labelled examples, the node's seeded draws), recorded as the collector hands them to the trainer, timestamped at ${perHour.toLocaleString("en")} an hour (${((stream.count * 3600) / perHour).toFixed(1)} s in all${perHour === 720_000 ? ", the pipeline's own rate of 200 a second" : ""}). Replayed through the pipeline's own trainer.tfjs config (stateful MLP 64, replay 1,000, online EWC, 4 epochs, minSamples 100, holdout 20%), its drift.ddm on the model's errors, and its control.trigger (drift, or rolling accuracy under 0.75 over 300 outcomes; 15 s cooldown on message time). Six windows of ${result.windowSize}. Schedules start from the first window's model (not the pipeline's bootstrapped champion), and every retrained model is taken (no gate).

![freshness and schedules](${name}.svg)

**(a) Freshness**: a model trained on one window, scored on the newest (samples ${result.windows.at(-1)!.from}–${result.samples}, inverted images of all classes).

| window age | window | trained on | accuracy on newest | CPU s | training samples |
| --- | --- | --- | --- | --- | --- |
${fresh.join("\n")}

**(b) Schedules**: test-then-train accuracy from sample ${result.windows[0].to}, and the compute spent.

| schedule | accuracy | newest window | trainings | drift alarms | CPU s | training samples |
| --- | --- | --- | --- | --- | --- | --- |
${sched.join("\n")}
`;
    writeFileSync(path.join(outDir, `${name}.md`), md);
    process.stdout.write(md);
  } finally {
    rmSync(data, { recursive: true, force: true });
  }
}

await main();
