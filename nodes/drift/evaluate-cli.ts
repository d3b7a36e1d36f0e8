/**
 * `evoflow drift eval`: scores detector configurations on streams with known drifts,
 * with River's metrics (./evaluate.ts).
 *   evoflow drift eval --detector adwin --grid delta=0.002,0.01 --stream abrupt --delta-max 200
 *   evoflow drift eval --detector page-hinkley --input errors.jsonl --drifts 1000,1500-1800 --delta-max 100
 *   evoflow drift eval --detector ks --grid window=50,100 --grid reference-size=200 --stream abrupt
 *   evoflow drift eval --alarms 110,900 --drifts 100,500 --delta-max 50 --samples 1000
 * Detector parameters are checked by the node's own config schema (`drift.<name>`).
 * A JSONL input has one number per line (or an object, `--field` naming the number);
 * it is read relative to the current folder and may not leave it.
 */
import { readFile } from "node:fs/promises";
import cliProgress from "cli-progress";
import type { Command } from "commander";
import { realFileInside } from "../../sdk/config-path";
import type { CommandHost } from "../../sdk/extensions";
import { driftReport, scoreDetector, type Drift, type DriftReport, type Updatable } from "./evaluate";
import { streamGenerators, type GeneratorName, type StreamKind, type SyntheticStream } from "./evaluate-streams";
import { driftNodes } from "./index";
import { streamingDetectorMakers } from "./streaming-nodes";
import { twoSampleDetectorMakers } from "./two-sample-nodes";

// The parsed config is checked by the node schema first, so it fits each constructor.

class UsageError extends Error {}

/** `100,400-600` or JSON `[100,[400,600]]`: drifts, an interval for a gradual one. */
export function parseDrifts(spec: string): Drift[] {
  if (spec.trim().startsWith("[")) return JSON.parse(spec) as Drift[];
  return spec.split(",").map((part) => {
    const m = /^\s*(\d+)\s*(?:-\s*(\d+))?\s*$/.exec(part);
    if (!m) throw new UsageError(`--drifts: "${part}" is neither an index nor start-end`);
    return m[2] === undefined ? Number(m[1]) : ([Number(m[1]), Number(m[2])] as const);
  });
}

const parseIndexes = (spec: string, name: string): number[] =>
  spec === "" ? [] : spec.split(",").map((s) => {
    if (!/^\s*\d+\s*$/.test(s)) throw new UsageError(`${name}: "${s}" is not an index`);
    return Number(s);
  });

/** `delta=0.002,0.01 clock=1,32` → every combination. */
export function expandGrid(specs: string[]): Record<string, unknown>[] {
  let combos: Record<string, unknown>[] = [{}];
  for (const spec of specs) {
    const eq = spec.indexOf("=");
    if (eq <= 0) throw new UsageError(`--grid "${spec}": write name=v1,v2`);
    const name = spec.slice(0, eq).replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
    const values = spec.slice(eq + 1).split(",").map((v) => { try { return JSON.parse(v); } catch { return v; } });
    combos = combos.flatMap((c) => values.map((v) => ({ ...c, [name]: v })));
  }
  return combos;
}

const detectorNames = () => [...Object.keys(streamingDetectorMakers), ...Object.keys(twoSampleDetectorMakers)];

/**
 * A detector for a configuration, its parameters checked by the node's schema. A two-sample
 * detector sees each value as a one-feature vector: an alarm is the value ending a window whose test drifted.
 */
function makeDetector(name: string, params: Record<string, unknown>): Updatable {
  const def = driftNodes.find((d) => d.type === `drift.${name}`);
  const streaming = streamingDetectorMakers[name];
  const twoSample = twoSampleDetectorMakers[name];
  if (!def || !(streaming || twoSample)) throw new UsageError(`unknown detector "${name}"; detectors: ${detectorNames().join(", ")}`);
  const parsed = def.config.safeParse(params);
  if (!parsed.success) throw new UsageError(parsed.error.issues.map((i) => `${name} ${i.path.join(".")}: ${i.message}`).join("\n"));
  const config = parsed.data as Record<string, unknown>;
  if (streaming) return streaming(config);
  const detector = twoSample(config);
  return { update: (x: number) => detector.update([x]), get driftDetected() { return detector.driftDetected; } };
}

async function readJsonl(file: string, field: string): Promise<Float64Array> {
  const real = await realFileInside(process.cwd(), file, "the current folder").catch((err: Error) => {
    throw new UsageError(`--input: ${err.message}`);
  });
  const lines = (await readFile(real, "utf8")).split("\n");
  const values: number[] = [];
  lines.forEach((line, i) => {
    if (line.trim() === "") return;
    const v = JSON.parse(line) as unknown;
    const x = typeof v === "number" ? v : (v as Record<string, unknown>)?.[field];
    if (typeof x !== "number") throw new UsageError(`${file}:${i + 1}: expected a number${typeof v === "object" ? ` at "${field}"` : ""}`);
    values.push(x);
  });
  return Float64Array.from(values);
}

export interface EvalRow extends DriftReport {
  detector: string;
  params: Record<string, unknown>;
  stream: string;
  updates_per_second?: number;
}

const COLUMNS: (keyof EvalRow)[] = ["precision", "recall", "episode_recall", "f1", "missed_detection_rate", "detection_delay", "normalized_detection_time", "false_alarm_rate", "mean_time_between_false_alarms", "mean_time_ratio", "updates_per_second"];
const fmt = (x: unknown) => (typeof x === "number" ? (Number.isInteger(x) ? String(x) : Number.isFinite(x) ? x.toPrecision(4) : String(x)) : String(x));

interface EvalOptions {
  detector: string[];
  grid: string[];
  stream?: GeneratorName;
  input?: string;
  field: string;
  drifts?: string;
  alarms?: string;
  samples?: string;
  deltaMax: string;
  deltaPre: string;
  unit: string;
  n?: string;
  seed: string;
  kind: StreamKind;
  json?: boolean;
}

export async function runEval(o: EvalOptions): Promise<EvalRow[]> {
  const window = { deltaMax: Number(o.deltaMax), deltaPre: Number(o.deltaPre), unit: Number(o.unit) };
  if (o.alarms !== undefined) {
    if (o.drifts === undefined || o.samples === undefined) throw new UsageError("--alarms needs --drifts and --samples");
    return [{ detector: "alarms", params: {}, stream: "given", ...driftReport(parseIndexes(o.alarms, "--alarms"), parseDrifts(o.drifts), { ...window, nSamples: Number(o.samples) }) }];
  }
  let stream: SyntheticStream;
  if (o.input !== undefined) {
    if (o.drifts === undefined) throw new UsageError("--input needs --drifts, the known change points");
    stream = { name: o.input, values: await readJsonl(o.input, o.field), drifts: parseDrifts(o.drifts) };
  } else {
    const generate = streamGenerators[o.stream ?? "abrupt"];
    if (!generate) throw new UsageError(`--stream: one of ${Object.keys(streamGenerators).join(", ")}`);
    const at = o.drifts === undefined ? undefined : parseDrifts(o.drifts).map((d) => (typeof d === "number" ? d : d[0]));
    stream = generate({ n: o.n === undefined ? undefined : Number(o.n), seed: Number(o.seed), kind: o.kind, at });
  }
  const configs = (o.detector.length ? o.detector : ["adwin"]).flatMap((d) => expandGrid(o.grid).map((params) => ({ d, params })));
  const detectors = configs.map(({ d, params }) => makeDetector(d, params)); // bad parameters fail before any run
  const bar = process.stderr.isTTY ? new cliProgress.SingleBar({ stream: process.stderr, format: "{bar} {value}/{total} configurations" }, cliProgress.Presets.shades_classic) : undefined;
  bar?.start(configs.length, 0);
  const rows = configs.map(({ d, params }, i) => {
    const { alarms: _alarms, ...score } = scoreDetector(detectors[i], stream.values, stream.drifts, window);
    bar?.increment();
    return { detector: d, params, stream: stream.name, ...score };
  });
  bar?.stop();
  return rows;
}

const collect = (v: string, all: string[]) => [...all, v];

export function registerEval(drift: Command, host: CommandHost): void {
  drift
    .command("eval")
    .description("score drift detector configurations on streams with known drifts (River's metrics), or score given alarms")
    .option("--detector <name>", "detector (repeatable): streaming adwin, ddm, eddm, hddm-a, kswin, page-hinkley; two-sample (windows) ks, chi-square, psi, wasserstein, mmd", collect, [])
    .option("--grid <name=v1,v2>", "a parameter's values to try (repeatable; every combination runs)", collect, [])
    .option("--stream <generator>", "synthetic stream: abrupt, gradual, recurring")
    .option("--kind <kind>", "gaussian values or bernoulli 0/1 errors", "gaussian")
    .option("--n <samples>", "samples of a synthetic stream")
    .option("--seed <n>", "seed of a synthetic stream", "42")
    .option("--input <file.jsonl>", "a stream: one number per line, or objects with --field")
    .option("--field <name>", "the number's field in JSONL objects", "x")
    .option("--drifts <list>", "known drifts: 100,400-600 (an interval is a gradual drift) or JSON")
    .option("--alarms <list>", "score these alarm indices instead of running a detector")
    .option("--samples <n>", "stream length for --alarms")
    .option("--delta-max <n>", "how late an alarm may come and count", "50")
    .option("--delta-pre <n>", "how early an alarm may come and count", "0")
    .option("--unit <n>", "false alarm rate per this many samples", "1")
    .option("--json", "print JSON instead of a table")
    .action(async (opts: EvalOptions) => {
      try {
        const rows = await runEval(opts);
        if (opts.json) {
          // NaN and Infinity are not JSON: null, as an undefined metric.
          process.stdout.write(`${JSON.stringify(rows, (_k, v) => (typeof v === "number" && !Number.isFinite(v) ? null : v), 2)}\n`);
          return;
        }
        const header = ["detector", "params", ...COLUMNS];
        const body = rows.map((r) => [r.detector, JSON.stringify(r.params), ...COLUMNS.map((c) => fmt(r[c] ?? ""))]);
        process.stdout.write(`${host.formatTable(header, body)}\n`);
      } catch (err) {
        process.stderr.write(`evoflow drift eval: ${(err as Error).message}\n`);
        process.exitCode = 2;
      }
    });
}
