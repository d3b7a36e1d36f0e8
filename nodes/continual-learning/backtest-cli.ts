/**
 * `evoflow cl backtest PIPELINE`: replays a recorded stream through the pipeline's own trainer
 * and drift node (backtest.ts) and answers "how fresh must the data be?" and "how often should
 * it retrain?":
 *   evoflow cl backtest pipelines/fashion-mnist-cl.json --data .evoflow --input stream.jsonl --windows 6 --every 1000 --every-hours 6
 *   evoflow cl backtest pipelines/fashion-mnist-cl.json --nats nats://127.0.0.1:4222
 * The stream is a JSONL file in the data folder (--input) or, with --nats, the JetStream stream
 * of the pipeline as deployed there: by default the edge into the trainer's `data` port. It
 * prints tables, and writes the result as JSON and a chart (SVG) into the data folder
 * (<data>/backtest/<pipeline>.json and .svg, or --out NAME). Progress goes to stderr.
 */
import { mkdir, realpath, writeFile } from "node:fs/promises";
import path from "node:path";
import cliProgress from "cli-progress";
import type { Command } from "commander";
import type { CommandHost } from "../../sdk/extensions";
import { confinedPathProblem } from "../../sdk/config-path";
import { runBacktest, type BacktestProgress, type BacktestResult } from "./backtest";
import { backtestChartSvg } from "./backtest-chart";
import { BacktestInputError, planFromPipeline, readJsonlSamples, readNatsSamples, readPipeline } from "./backtest-input";

interface BacktestOptions {
  data: string;
  input?: string;
  nats?: string;
  edge?: string;
  windows: string;
  every?: string;
  everyHours?: string;
  trainer?: string;
  drift?: string;
  out?: string;
  json?: boolean;
}

const pct = (v: number) => `${(100 * v).toFixed(1)}%`;

function numbers(spec: string | undefined, flag: string, integer: boolean): number[] {
  if (spec === undefined || spec === "") return [];
  return spec.split(",").map((s) => {
    const v = Number(s);
    if (!(v > 0) || (integer && !Number.isInteger(v))) throw new BacktestInputError(`${flag}: "${s}" is not a positive ${integer ? "integer" : "number"}`);
    return v;
  });
}

function tables(host: CommandHost, r: BacktestResult): string {
  const time = (ts?: number) => (ts === undefined ? "-" : new Date(ts).toISOString().replace("T", " ").slice(0, 19));
  const fresh = host.formatTable(
    ["age", "window (samples)", "from", "to", "trained on", "accuracy on newest", "CPU s", "samples"],
    r.freshness.map((f) => [String(f.age), `${f.window.from}-${f.window.to}`, time(f.window.firstTs), time(f.window.lastTs), String(f.trainedOn), pct(f.accuracy), f.cpuSeconds.toFixed(2), String(f.samplesSeen)]),
  );
  const sched = host.formatTable(
    ["schedule", "accuracy", "newest window", "trainings", "skipped", "drift alarms", "CPU s", "wall s", "samples"],
    r.schedules.map((s) => [s.schedule, pct(s.accuracy), pct(s.recentAccuracy), String(s.trainings), String(s.skipped), s.alarms === undefined ? "-" : String(s.alarms), s.cpuSeconds.toFixed(2), s.wallSeconds.toFixed(2), String(s.samplesSeen)]),
  );
  const newest = r.windows.at(-1)!;
  return `freshness: models trained on older windows of ${r.windowSize} samples, scored on the newest (samples ${newest.from}-${newest.to})\n${fresh}\nschedules: test-then-train from sample ${r.windows[0].to}, all starting from the first window's model\n${sched}`;
}

/** Progress on stderr: a bar on a terminal, else a line per training stage. */
function progressReporter(): { report: BacktestProgress; stop(): void } {
  if (!process.stderr.isTTY) {
    let last = "";
    return {
      report: (p) => {
        const line = p.stage === "freshness" ? `freshness: ${p.label} (${p.done}/${p.total})` : `schedule ${p.label}: ${Math.floor((10 * p.done) / p.total) * 10}%`;
        if (line !== last) process.stderr.write(`${(last = line)}\n`);
      },
      stop: () => undefined,
    };
  }
  const bar = new cliProgress.SingleBar({ stream: process.stderr, format: "{stage} {bar} {value}/{total} {label}" }, cliProgress.Presets.shades_classic);
  let stage = "";
  return {
    report: (p) => {
      if (p.stage + p.label !== stage) (stage = p.stage + p.label), bar.stop(), bar.start(p.total, p.done, { stage: p.stage, label: p.label });
      else bar.update(p.done);
    },
    stop: () => bar.stop(),
  };
}

/** `<data>/backtest/<name>`, the name confined to the data folder as config paths are. */
async function outputBase(dataDir: string, name: string): Promise<string> {
  const problem = confinedPathProblem(name);
  if (problem) throw new BacktestInputError(`--out: ${problem}`);
  const root = path.join(await realpath(dataDir), "backtest");
  const base = path.resolve(root, name.replace(/\.(json|svg)$/, ""));
  await mkdir(path.dirname(base), { recursive: true });
  return base;
}

export async function backtestCommand(host: CommandHost, pipelineFile: string, o: BacktestOptions): Promise<{ result: BacktestResult; files: string[] }> {
  if ((o.input === undefined) === (o.nats === undefined)) throw new BacktestInputError("give the recorded stream: --input FILE.jsonl (in the data folder) or --nats URL (the pipeline's JetStream stream)");
  const pipeline = await readPipeline(pipelineFile);
  const { trainer, drift, trigger, dataEdge } = planFromPipeline(pipeline, { trainer: o.trainer, drift: o.drift });
  const windows = Number(o.windows);
  if (!Number.isInteger(windows) || windows < 2) throw new BacktestInputError(`--windows: an integer ≥ 2, got "${o.windows}"`);
  const everyHours = numbers(o.everyHours, "--every-hours", false);
  const explicitEvery = numbers(o.every, "--every", true);
  const edge = o.edge ?? dataEdge;
  const samples = o.input !== undefined ? await readJsonlSamples(o.data, o.input) : await readNatsSamples(host, { nats: o.nats!, pipeline: pipeline.name, edge });
  if (samples.length === 0) throw new BacktestInputError(`the recorded stream (${o.input ?? `${pipeline.name} edge ${edge} on ${o.nats}`}) holds no labelled example`);
  const everySamples = explicitEvery.length ? explicitEvery : [Math.floor(samples.length / windows)];
  const base = await outputBase(o.data, o.out ?? pipeline.name);
  process.stderr.write(`${samples.length} labelled examples; trainer ${trainer.node} (${trainer.config.mode}), drift node ${drift ? `${drift.node} (${drift.type}, watching ${drift.watches === "error" ? "the model's errors" : "the features"})` : "none"}, trigger ${trigger ? `${trigger.node}${trigger.fedByDrift ? ` (fed by ${drift!.node})` : ""}` : "none"}\n`);
  const progress = progressReporter();
  let result: BacktestResult;
  try {
    result = await runBacktest(samples, { trainer, drift, trigger, windows, everySamples, everyHours }, progress.report);
  } finally {
    progress.stop();
  }
  const source = o.input !== undefined ? { kind: "jsonl", file: o.input } : { kind: "jetstream", nats: o.nats, pipeline: pipeline.name, edge };
  const doc = { pipeline: pipeline.name, source, trainer: { node: trainer.node, mode: trainer.config.mode }, drift: drift && { node: drift.node, type: drift.type, watches: drift.watches }, trigger, at: new Date().toISOString(), ...result };
  const files = [`${base}.json`, `${base}.svg`];
  await writeFile(files[0], `${JSON.stringify(doc, null, 2)}\n`);
  await writeFile(files[1], backtestChartSvg(result, `${pipeline.name}: freshness backtest and retraining schedules (${samples.length} samples)`));
  process.stdout.write(o.json ? `${JSON.stringify(doc, null, 2)}\n` : `${tables(host, result)}\nwrote ${files.join(" and ")}\n`);
  return { result, files };
}

export default function register(program: Command, host: CommandHost): void {
  const cl = program.command("cl").description("continual-learning tools: `evoflow cl backtest`");
  cl.command("backtest")
    .description("replay a recorded stream through the pipeline's own trainer and drift node: accuracy on the newest window of models trained on older windows, and accuracy and compute of retraining every N samples / H hours / on drift / never, as tables, JSON and a chart")
    .argument("<pipeline>", "the pipeline file (its trainer.tfjs and drift node are replayed)")
    .option("--data <dir>", "data folder: --input is read from it, results written to <data>/backtest/", ".evoflow")
    .option("--input <file>", "JSONL of labelled messages (envelopes as `evoflow tap` prints them, or {x, y, ts}), relative to the data folder")
    .option("--nats <url>", "read the pipeline's JetStream stream on this NATS server instead")
    .option("--edge <id>", "the recorded edge to read (default: the edge into the trainer's data port)")
    .option("--windows <n>", "windows the stream is cut into, by arrival order", "6")
    .option("--every <n,...>", "retrain every N samples (default: one window)")
    .option("--every-hours <h,...>", "retrain every H hours of message time")
    .option("--trainer <id>", "the trainer node, when the pipeline has several")
    .option("--drift <id>", "the drift node, when the pipeline has several")
    .option("--out <name>", "result file name in <data>/backtest/ (default: the pipeline's name)")
    .option("--json", "print the result as JSON")
    .action(async (pipelineFile: string, opts: BacktestOptions) => {
      try {
        await backtestCommand(host, pipelineFile, opts);
      } catch (err) {
        process.stderr.write(`error: ${(err as Error).message}\n`);
        process.exitCode = 1;
      }
    });
}
