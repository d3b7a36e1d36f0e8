/**
 * Active learning on Fashion-MNIST (Debian's dataset-fashion-mnist): with the same label budget,
 * how accurate a model gets when the labels go to the requests sampler.uncertainty picks
 * (entropy, margin) rather than to random ones. Every strategy starts from the same random seed
 * set; each round streams new unlabelled training images through the node's own window picker
 * (windows of `window` requests, at most `perWindow` picks each, near-duplicates skipped), labels
 * the picks (the dataset's labels stand in for the labelers), retrains from scratch (trainer.tfjs's
 * training code) and measures accuracy on test images.
 *
 *   node --import tsx bench/active-learning.ts [--rounds 16] [--out bench/results]
 *
 * Writes bench/results/active-learning.{json,md,svg}: accuracy against labels used.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import cliProgress from "cli-progress";
import { imageRow, labelledImages, loadFashionMnistImages } from "../nodes/continual-learning/fashion-mnist";
import { fromOnnx } from "../nodes/continual-learning/dense";
import { predict, train, trainConfigSchema } from "../nodes/continual-learning/train";
import { toProbabilities, uncertainty, WindowPicker, type Strategy } from "../nodes/sampler/uncertainty";
import { seededRandom } from "../sdk/random";
import { machine } from "./agent-bench-lib";

const { values } = parseArgs({ options: { rounds: { type: "string", default: "16" }, out: { type: "string", default: "bench/results" } } });
const ROUNDS = Number(values.rounds);
const SEED_LABELS = 100;
const STREAM_PER_ROUND = 1000; // unlabelled requests seen per round
const WINDOW = { windowSize: 100, perWindow: 5, minDistance: 0.02 }; // 10 windows × 5 = 50 labels a round
const TEST_IMAGES = 2000;
const STRATEGIES: Strategy[] = ["entropy", "margin", "least-confidence", "random"];
const config = trainConfigSchema.parse({ mode: "stateless", architecture: { kind: "mlp", hidden: [64], outputSoftmax: true }, epochs: 15, batchSize: 32, seed: 3 });

const started = Date.now();
const loadAtStart = os.loadavg().map((l) => +l.toFixed(2));
const pool = await loadFashionMnistImages("train", { from: 0, to: SEED_LABELS + ROUNDS * STREAM_PER_ROUND });
const test = await loadFashionMnistImages("test", { from: 0, to: TEST_IMAGES });
const testSet = labelledImages(test, Array.from({ length: test.count }, (_, i) => i));

async function fit(indices: number[]) {
  const result = await train({ config, data: labelledImages(pool, indices) });
  return fromOnnx(result.onnx);
}

async function accuracy(model: ReturnType<typeof fromOnnx>): Promise<number> {
  const p = await predict(model, testSet.x, testSet.count);
  let correct = 0;
  for (let i = 0; i < testSet.count; i++) {
    const row = p.subarray(i * 10, i * 10 + 10);
    if (row.indexOf(Math.max(...row)) === testSet.y[i]) correct++;
  }
  return correct / testSet.count;
}

const bars = new cliProgress.MultiBar({ format: "{strategy} |{bar}| round {value}/{total} {note}", hideCursor: true }, cliProgress.Presets.shades_classic);
const curves: { strategy: Strategy; points: { labels: number; accuracy: number }[]; nearDuplicates: number; seconds: number }[] = [];
for (const strategy of STRATEGIES) {
  const bar = bars.create(ROUNDS, 0, { strategy: strategy.padEnd(8), note: "" });
  const t0 = performance.now();
  const random = seededRandom(7);
  const picker = new WindowPicker<number>(WINDOW);
  const labelled = Array.from({ length: SEED_LABELS }, (_, i) => i);
  let model = await fit(labelled);
  const points = [{ labels: labelled.length, accuracy: await accuracy(model) }];
  for (let round = 0; round < ROUNDS; round++) {
    const from = SEED_LABELS + round * STREAM_PER_ROUND;
    const stream = Array.from({ length: STREAM_PER_ROUND }, (_, i) => from + i);
    const x = new Float32Array(stream.length * pool.features);
    stream.forEach((index, k) => x.set(imageRow(pool, index), k * pool.features));
    const p = await predict(model, x, stream.length);
    stream.forEach((index, k) => {
      const probs = toProbabilities(p.subarray(k * 10, k * 10 + 10));
      const picks = picker.offer({ score: uncertainty(probs, strategy, random), features: x.subarray(k * pool.features, (k + 1) * pool.features), item: index }, Infinity);
      for (const pick of picks ?? []) labelled.push(pick.item);
    });
    model = await fit(labelled);
    points.push({ labels: labelled.length, accuracy: await accuracy(model) });
    bar.update(round + 1, { note: `${labelled.length} labels, accuracy ${(points.at(-1)!.accuracy * 100).toFixed(1)}%` });
  }
  curves.push({ strategy, points, nearDuplicates: picker.duplicates, seconds: +((performance.now() - t0) / 1000).toFixed(1) });
}
bars.stop();

const peakRssMB = +(process.resourceUsage().maxRSS / 1024).toFixed(1);
const result = {
  bench: "active-learning",
  command: `node --import tsx bench/active-learning.ts --rounds ${ROUNDS}`,
  at: new Date(started).toISOString(),
  machine: machine(),
  loadAverage: { start: loadAtStart, end: os.loadavg().map((l) => +l.toFixed(2)) },
  setup: { seedLabels: SEED_LABELS, streamPerRound: STREAM_PER_ROUND, rounds: ROUNDS, window: WINDOW, testImages: TEST_IMAGES, model: "MLP 784-64-10, trained from scratch each round", epochs: config.epochs },
  curves,
  peakRssMB,
  seconds: +((Date.now() - started) / 1000).toFixed(1),
};

function chart(): string {
  const [W, H, m] = [760, 420, { left: 60, right: 170, top: 40, bottom: 50 }];
  const maxLabels = Math.max(...curves.flatMap((c) => c.points.map((p) => p.labels)));
  const accs = curves.flatMap((c) => c.points.map((p) => p.accuracy));
  const [lo, hi] = [Math.floor(Math.min(...accs) * 20) / 20, Math.ceil(Math.max(...accs) * 20) / 20];
  const x = (v: number) => m.left + (v / maxLabels) * (W - m.left - m.right);
  const y = (v: number) => m.top + (1 - (v - lo) / (hi - lo)) * (H - m.top - m.bottom);
  const colors: Record<string, string> = { entropy: "#d62728", margin: "#1f77b4", "least-confidence": "#2ca02c", random: "#888888" };
  const out = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`, `<rect width="${W}" height="${H}" fill="white"/>`];
  out.push(`<text x="${m.left}" y="22" font-size="15" font-weight="bold">Fashion-MNIST: test accuracy against labels used (same budget)</text>`);
  for (let v = lo; v <= hi + 1e-9; v += 0.05) {
    out.push(`<line x1="${m.left}" x2="${W - m.right}" y1="${y(v)}" y2="${y(v)}" stroke="#eee"/><text x="${m.left - 8}" y="${y(v) + 4}" text-anchor="end">${(v * 100).toFixed(0)}%</text>`);
  }
  for (const p of curves[0].points) out.push(`<text x="${x(p.labels)}" y="${H - m.bottom + 18}" text-anchor="middle">${p.labels}</text>`);
  out.push(`<text x="${(m.left + W - m.right) / 2}" y="${H - 12}" text-anchor="middle">labels used (${SEED_LABELS} random to start, then ${WINDOW.perWindow} per window of ${WINDOW.windowSize} requests)</text>`);
  out.push(`<line x1="${m.left}" x2="${m.left}" y1="${m.top}" y2="${H - m.bottom}" stroke="#333"/><line x1="${m.left}" x2="${W - m.right}" y1="${H - m.bottom}" y2="${H - m.bottom}" stroke="#333"/>`);
  curves.forEach((c, k) => {
    const color = colors[c.strategy];
    out.push(`<polyline fill="none" stroke="${color}" stroke-width="2" points="${c.points.map((p) => `${x(p.labels).toFixed(1)},${y(p.accuracy).toFixed(1)}`).join(" ")}"/>`);
    for (const p of c.points) out.push(`<circle cx="${x(p.labels).toFixed(1)}" cy="${y(p.accuracy).toFixed(1)}" r="3" fill="${color}"/>`);
    const ly = m.top + 10 + k * 40;
    out.push(`<line x1="${W - m.right + 14}" x2="${W - m.right + 38}" y1="${ly}" y2="${ly}" stroke="${color}" stroke-width="3"/><text x="${W - m.right + 44}" y="${ly + 4}" font-weight="bold">${c.strategy}</text>`);
    out.push(`<text x="${W - m.right + 44}" y="${ly + 20}">final ${(c.points.at(-1)!.accuracy * 100).toFixed(1)}%</text>`);
  });
  out.push("</svg>");
  return out.join("\n") + "\n";
}

const table = [
  `| labels | ${curves.map((c) => c.strategy).join(" | ")} |`,
  `| ---: | ${curves.map(() => "---:").join(" | ")} |`,
  ...curves[0].points.map((p, i) => `| ${p.labels} | ${curves.map((c) => `${(c.points[i].accuracy * 100).toFixed(1)}%`).join(" | ")} |`),
].join("\n");
const md = `# Active learning: uncertainty vs random sampling

Command: \`${result.command}\` — ${result.at}

Machine: ${result.machine.cpu}, ${result.machine.cores} cores, ${result.machine.memoryGB} GB, Node ${result.machine.node}. Load average at start ${loadAtStart.join(", ")}, at end ${result.loadAverage.end.join(", ")} (a shared, busy machine: a short run, ${ROUNDS} rounds).

Fashion-MNIST (Debian's dataset-fashion-mnist). Every strategy starts from the same ${SEED_LABELS} random labelled training images; each round streams ${STREAM_PER_ROUND} new unlabelled ones through sampler.uncertainty's window picker (windows of ${WINDOW.windowSize}, at most ${WINDOW.perWindow} picks each, cosine distance < ${WINDOW.minDistance} to a recent pick skipped), labels the picks with the dataset's labels, retrains an MLP 784-64-10 from scratch (${config.epochs} epochs, Adam) and measures accuracy on ${TEST_IMAGES} test images. Same labels budget for all: ${curves[0].points.at(-1)!.labels} labels at the end.

![accuracy against labels](active-learning.svg)

${table}

| strategy | seconds | near-duplicates skipped |
| --- | ---: | ---: |
${curves.map((c) => `| ${c.strategy} | ${c.seconds} | ${c.nearDuplicates} |`).join("\n")}

Peak RSS: ${peakRssMB} MB. Whole run: ${result.seconds} s.
`;

mkdirSync(values.out!, { recursive: true });
writeFileSync(path.join(values.out!, "active-learning.json"), JSON.stringify(result, null, 2) + "\n");
writeFileSync(path.join(values.out!, "active-learning.svg"), chart());
writeFileSync(path.join(values.out!, "active-learning.md"), md);
process.stdout.write(md);
