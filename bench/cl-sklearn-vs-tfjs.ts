/**
 * trainer.sklearn beside trainer.tfjs on the same reduced Fashion-MNIST stream: both start from a
 * champion that knows classes 0-4 (1,500 images), then train stateful after each experience of the
 * reduced demo stream (1,000 × classes 0-4 → 2,500 × all classes → 2,500 × inverted images), each
 * on that experience's examples only. Accuracy is on the experience's test images (the same classes
 * and shift) and averaged over every experience so far (Avalanche's average accuracy); compute is
 * the CPU-seconds of training: the Python worker's for sklearn (Linux /proc), this process's for
 * tfjs (wasm backend, in process, so its CPU clock counts only training).
 * The sklearn models are judged as the gate judges them: registered, run by the agent's Python workers.
 *
 *   node --import tsx bench/cl-sklearn-vs-tfjs.ts [--out bench/results]
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { createInProcessAgent } from "../gpu-agent/in-process";
import { evaluateArtifact, evaluateOnnx } from "../nodes/continual-learning/gate";
import { indicesOfClasses, loadFashionMnist, shiftImages, subset, type LabelledSet } from "../nodes/continual-learning/fashion-mnist";
import { sklearnTrainerPool, sklearnTrainSchema, trainSklearn } from "../nodes/continual-learning/sklearn-train";
import { train, trainConfigSchema, type ClState } from "../nodes/continual-learning/train";
import { createPythonWorkers } from "../python/pool";
import { FsModelRegistry } from "../runtime/registry/fs";
import { pythonWithSklearn } from "../test/agent/python-fixtures";

const outDir = process.argv.includes("--out") ? process.argv[process.argv.indexOf("--out") + 1] : "bench/results";
const ALL = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
const experiences = [
  { name: "classes 0-4", count: 1000, classes: [0, 1, 2, 3, 4], shift: "none" as const },
  { name: "new classes 5-9", count: 2500, classes: ALL, shift: "none" as const },
  { name: "inverted images", count: 2500, classes: ALL, shift: "invert" as const },
];
// The pipelines' settings: fashion-mnist-cl.json's MLP with replay, fashion-mnist-sklearn.json's SGDClassifier.
const tfjsConfig = trainConfigSchema.parse({ mode: "stateful", epochs: 3, architecture: { hidden: [64] }, replay: { memSize: 1000 } });
const sklearnConfig = sklearnTrainSchema.parse({ estimator: "SGDClassifier", params: { alpha: 0.0001, eta0: 0.01, learning_rate: "constant", loss: "log_loss", random_state: 0 }, epochs: 3, mode: "stateful" });

const cpuSeconds = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};
const load = () => os.loadavg().map((l) => +l.toFixed(2));
const pct = (v: number) => `${(100 * v).toFixed(1)}%`;

interface Row {
  experience: string;
  accuracy: number;
  averageAccuracy: number;
  trainingCpuSeconds: number;
  trainingWallSeconds: number;
}

async function main() {
  const loadAtStart = load();
  const started = Date.now();
  const trainSet = loadFashionMnist("train");
  const testSet = loadFashionMnist("test");
  const dir = mkdtempSync(path.join(os.tmpdir(), "evoflow-bench-sklearn-"));
  const python = pythonWithSklearn();
  const registry = new FsModelRegistry(path.join(dir, "registry"));
  const models = createInProcessAgent({ dataDir: dir, registry, allowExec: true, python });
  const pool = sklearnTrainerPool(createPythonWorkers({ interpreter: python }), { pipeline: "bench", node: "sklearn", niceness: 0, timeoutMs: 600_000 });
  await pool.start();

  // The stream draws experiences from images 10,000 on, in order; each test set is 1,000 test images of its classes and shift.
  let next = 10_000;
  const data = experiences.map((e) => {
    const pool = indicesOfClasses({ y: trainSet.y.subarray(next), count: trainSet.count - next }, e.classes).slice(0, e.count).map((i) => i + next);
    next = pool.at(-1)! + 1;
    const train = subset(trainSet, pool);
    const test = subset(testSet, indicesOfClasses(testSet, e.classes).slice(0, 1000));
    return { train: e.shift === "invert" ? shiftImages(train, "invert") : train, test: e.shift === "invert" ? shiftImages(test, "invert") : test };
  });
  const bootstrap = subset(trainSet, indicesOfClasses({ y: trainSet.y.subarray(0, 10_000), count: 10_000 }, [0, 1, 2, 3, 4]).slice(0, 1500));

  const run = async (name: string, learner: { start(d: LabelledSet): Promise<void>; update(d: LabelledSet): Promise<{ cpu: number; wall: number }>; evaluate(t: LabelledSet): Promise<number> }): Promise<Row[]> => {
    await learner.start(bootstrap);
    const rows: Row[] = [];
    for (let k = 0; k < experiences.length; k++) {
      const { cpu, wall } = await learner.update(data[k].train);
      const accuracies: number[] = [];
      for (let j = 0; j <= k; j++) accuracies.push(await learner.evaluate(data[j].test));
      rows.push({ experience: experiences[k].name, accuracy: accuracies[k], averageAccuracy: accuracies.reduce((a, b) => a + b, 0) / accuracies.length, trainingCpuSeconds: cpu, trainingWallSeconds: wall });
      process.stderr.write(`${name} after ${experiences[k].name}: ${pct(accuracies[k])}, ${cpu.toFixed(2)} CPU s\n`);
    }
    return rows;
  };

  let champion: { onnx: Uint8Array; state?: ClState } | undefined;
  const tfjs = await run("tfjs", {
    async start(d) {
      const r = await train({ config: trainConfigSchema.parse({ epochs: 3, architecture: { hidden: [64] } }), data: d });
      champion = { onnx: r.onnx, state: { seenClasses: [0, 1, 2, 3, 4], experiences: 1 } };
    },
    async update(d) {
      const [cpu0, wall0] = [cpuSeconds(), performance.now()];
      const r = await train({ config: tfjsConfig, data: d, base: champion!.onnx, state: champion!.state });
      champion = { onnx: r.onnx, state: r.state };
      return { cpu: cpuSeconds() - cpu0, wall: (performance.now() - wall0) / 1000 };
    },
    evaluate: async (t) => (await evaluateOnnx(champion!.onnx, t)).accuracy,
  });

  let version = 0;
  let bytes: Uint8Array | undefined;
  const register = async (model: Uint8Array, signature: Parameters<FsModelRegistry["register"]>[0]["signature"]) => {
    version = (await registry.register({ name: "bench-sk", artifact: model, format: "sklearn", signature, allowExec: true })).version;
    bytes = model;
  };
  const sklearn = await run("sklearn", {
    async start(d) {
      const r = await trainSklearn(pool, { data: d, config: sklearnConfig });
      await register(r.model, r.signature);
    },
    async update(d) {
      const r = await trainSklearn(pool, { data: d, base: bytes, config: sklearnConfig });
      await register(r.model, r.signature);
      return { cpu: r.cpuSeconds, wall: r.trainingMs / 1000 };
    },
    evaluate: async (t) => (await evaluateArtifact({ bytes: bytes!, format: "sklearn", hosted: { models, name: "bench-sk", version } }, t)).accuracy,
  });
  await pool.close();
  await models.close();
  await registry.close();
  rmSync(dir, { recursive: true, force: true });

  const totals = (rows: Row[]) => ({ cpu: rows.reduce((a, r) => a + r.trainingCpuSeconds, 0), final: rows.at(-1)!.averageAccuracy });
  const result = {
    command: "node --import tsx bench/cl-sklearn-vs-tfjs.ts",
    at: new Date().toISOString(),
    machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, node: process.version },
    load: { atStart: loadAtStart, atEnd: load() },
    wallSeconds: (Date.now() - started) / 1000,
    stream: experiences,
    bootstrap: "1,500 images of classes 0-4 (train images 0-9,999)",
    tfjs: { config: "MLP 784-64-10, stateful: warm start + class-balanced replay of 1,000, 3 epochs (Adam 0.001)", rows: tfjs, ...totals(tfjs) },
    sklearn: { config: "SGDClassifier(log_loss, alpha 1e-4, constant eta0 0.01), stateful: partial_fit on a copy of the champion, 3 epochs of batches of 256, no replay", rows: sklearn, ...totals(sklearn) },
  };
  mkdirSync(outDir, { recursive: true });
  writeFileSync(path.join(outDir, "cl-sklearn-vs-tfjs.json"), `${JSON.stringify(result, null, 2)}\n`);
  const table = experiences
    .map((e, k) => `| ${e.name} | ${pct(tfjs[k].accuracy)} | ${pct(tfjs[k].averageAccuracy)} | ${tfjs[k].trainingCpuSeconds.toFixed(2)} | ${pct(sklearn[k].accuracy)} | ${pct(sklearn[k].averageAccuracy)} | ${sklearn[k].trainingCpuSeconds.toFixed(2)} |`)
    .join("\n");
  const md = `# trainer.sklearn beside trainer.tfjs on the reduced Fashion-MNIST stream

Command: \`${result.command}\`, ${result.at}. Machine: ${result.machine.cpus} × ${result.machine.model}, Node ${result.machine.node}. Wall time ${result.wallSeconds.toFixed(0)} s. Load average (1, 5, 15 min): ${loadAtStart.join(", ")} at the start, ${result.load.atEnd.join(", ")} at the end (other agents shared the 2 cores).

Both start from a champion trained on ${result.bootstrap}; after each experience of the reduced demo stream each trains stateful on that experience's examples only.
- tfjs: ${result.tfjs.config}.
- sklearn: ${result.sklearn.config}; judged through the agent's Python workers, as validator.gate judges it.

Accuracy: on 1,000 test images of the experience's classes and shift; average: over every experience so far. Training CPU: seconds of CPU the training used (the Python worker's from /proc for sklearn; this process's for tfjs, wasm backend).

| experience | tfjs accuracy | tfjs average | tfjs training CPU s | sklearn accuracy | sklearn average | sklearn training CPU s |
| --- | --- | --- | --- | --- | --- | --- |
${table}
| **total** | | ${pct(result.tfjs.final)} | ${result.tfjs.cpu.toFixed(2)} | | ${pct(result.sklearn.final)} | ${result.sklearn.cpu.toFixed(2)} |

The linear SGDClassifier trains for ${(result.sklearn.cpu / result.tfjs.cpu).toFixed(3)}× tfjs's CPU. Without replay it keeps nothing of the earlier experiences but its weights, so its average accuracy after the inverted images shows what it forgot.
`;
  writeFileSync(path.join(outDir, "cl-sklearn-vs-tfjs.md"), md);
  process.stdout.write(md);
}

await main();
