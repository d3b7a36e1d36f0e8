/**
 * Drift detector benchmark: updates per second of every streaming detector on
 * 10^6 values, and the time of one KS test (10,000 vs 10,000 values, exact p-value)
 * and one MMD test (1,000 vs 1,000 two-dimensional points, 100 permutations), with
 * the peak RSS of the process after each. Writes bench/results/drift.json and .md.
 *
 * Run: node --import tsx bench/drift.ts
 */
import { writeFileSync } from "node:fs";
import { cpus, loadavg, totalmem } from "node:os";
import { join } from "node:path";
import { ADWIN } from "../nodes/drift/adwin";
import { DDM } from "../nodes/drift/ddm";
import type { StreamingDetector } from "../nodes/drift/detector";
import { EDDM } from "../nodes/drift/eddm";
import { HDDMA } from "../nodes/drift/hddm-a";
import { ksTwoSample } from "../nodes/drift/ks";
import { KSWIN } from "../nodes/drift/kswin";
import { mmdTest } from "../nodes/drift/mmd";
import { PageHinkley } from "../nodes/drift/page-hinkley";
import { PythonRandom } from "../nodes/drift/random";

const N = 1_000_000;
const loadAtStart = loadavg().map((l) => round(l, 1));
const rng = new PythonRandom(2026);
const gaussian = () => Math.sqrt(-2 * Math.log(1 - rng.random())) * Math.cos(2 * Math.PI * rng.random());

// A stream with a shift half-way, so detectors also do their drift-and-reset work.
const numeric = new Float64Array(N);
const errors = new Float64Array(N);
for (let i = 0; i < N; i++) {
  numeric[i] = gaussian() + (i >= N / 2 ? 1 : 0);
  errors[i] = rng.random() < (i >= N / 2 ? 0.3 : 0.1) ? 1 : 0;
}

const peakRssMb = () => Math.round((process.resourceUsage().maxRSS / 1024) * 10) / 10;

/** Best of three passes over the data (other processes on a shared machine only ever slow a pass down). */
function streaming(name: string, make: () => StreamingDetector, data: Float64Array) {
  const warm = make();
  for (let i = 0; i < 100_000; i++) warm.update(data[i]);
  let best = Infinity;
  let drifts = 0;
  for (let pass = 0; pass < 3; pass++) {
    const detector = make();
    drifts = 0;
    const started = performance.now();
    for (let i = 0; i < data.length; i++) if (detector.update(data[i]).driftDetected) drifts++;
    best = Math.min(best, (performance.now() - started) / 1000);
  }
  const result = { detector: name, values: data.length, seconds: round(best, 3), updatesPerSecond: Math.round(data.length / best), drifts, peakRssMb: peakRssMb() };
  process.stderr.write(`${JSON.stringify(result)}\n`);
  return result;
}

function round(x: number, digits: number) {
  return Number(x.toFixed(digits));
}

function timed<T>(fn: () => T, repeats: number): { seconds: number; result: T } {
  fn(); // warm-up
  let result!: T;
  const started = performance.now();
  for (let r = 0; r < repeats; r++) result = fn();
  return { seconds: (performance.now() - started) / 1000 / repeats, result };
}

const detectors = [
  streaming("ADWIN", () => new ADWIN(), numeric),
  streaming("DDM", () => new DDM(), errors),
  streaming("EDDM", () => new EDDM(), errors),
  streaming("HDDM_A", () => new HDDMA(), errors),
  streaming("Page-Hinkley", () => new PageHinkley(), numeric),
  streaming("KSWIN", () => new KSWIN({ seed: 1 }), numeric),
];

const a = Array.from({ length: 10_000 }, gaussian);
const b = Array.from({ length: 10_000 }, () => gaussian() + 0.02);
const ks = timed(() => ksTwoSample(a, b), 5);
const ksResult = { test: "KS two-sample, 10,000 vs 10,000", method: ks.result.method, seconds: round(ks.seconds, 4), pValue: ks.result.pValue, peakRssMb: peakRssMb() };
process.stderr.write(`${JSON.stringify(ksResult)}\n`);

const x = Array.from({ length: 1000 }, () => [gaussian(), gaussian()]);
const y = Array.from({ length: 1000 }, () => [gaussian() + 0.1, gaussian()]);
const mmd = timed(() => mmdTest(x, y, { nPermutations: 100, seed: 0 }), 3);
const mmdResult = { test: "MMD, 1,000 vs 1,000 points in 2-d, RBF, 100 permutations", seconds: round(mmd.seconds, 3), pValue: mmd.result.pValue, peakRssMb: peakRssMb() };
process.stderr.write(`${JSON.stringify(mmdResult)}\n`);

const machine = { cpu: cpus()[0]?.model ?? "unknown", cores: cpus().length, memoryGb: Math.round(totalmem() / 2 ** 30), node: process.version, platform: `${process.platform}-${process.arch}`, loadAverageAtStart: loadAtStart };
const command = "node --import tsx bench/drift.ts";
const out = { date: new Date().toISOString(), command, machine, streaming: detectors, twoSample: [ksResult, mmdResult], peakRssMb: peakRssMb() };
const dir = join(import.meta.dirname, "results");
writeFileSync(join(dir, "drift.json"), `${JSON.stringify(out, null, 2)}\n`);

const target = new Set(["ADWIN", "DDM", "EDDM", "Page-Hinkley"]);
const md = [
  "# Drift detector benchmark",
  "",
  `Command: \`${command}\` — ${out.date}`,
  "",
  `Machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGb} GB, Node ${machine.node} (${machine.platform}); one core used. Load average at start: ${loadAtStart.join(", ")} (other jobs shared the machine; each figure is the best of three passes).`,
  "",
  "Streaming detectors, 10^6 values each (a shift half-way; numeric stream N(0,1)→N(1,1), error stream p = 0.1→0.3), after a 10^5-value warm-up:",
  "",
  "| detector | updates/s | seconds | drifts | target ≥ 1M/s | peak RSS (MB) |",
  "| --- | ---: | ---: | ---: | --- | ---: |",
  ...detectors.map(
    (d) => `| ${d.detector} | ${d.updatesPerSecond.toLocaleString("en-US")} | ${d.seconds} | ${d.drifts} | ${target.has(d.detector) ? (d.updatesPerSecond >= 1e6 ? "met" : "MISSED") : "—"} | ${d.peakRssMb} |`,
  ),
  "",
  "Two-sample tests (mean of repeated runs after a warm-up):",
  "",
  "| test | seconds | peak RSS (MB) |",
  "| --- | ---: | ---: |",
  `| ${ksResult.test} (${ksResult.method} p-value) | ${ksResult.seconds} | ${ksResult.peakRssMb} |`,
  `| ${mmdResult.test} | ${mmdResult.seconds} | ${mmdResult.peakRssMb} |`,
  "",
  "Peak RSS is the process's maximum resident set so far (it includes the 10^6-value input arrays). Drift counts include false alarms: Page-Hinkley's default threshold (50) is often crossed by unit-variance noise, and KSWIN tests at alpha = 0.005 on every value.",
  "",
].join("\n");
writeFileSync(join(dir, "drift.md"), md);
process.stdout.write(md);
