/**
 * Serving interference: p99 of an Evoflow serving pipeline (io.http → model.onnx, sync, on the
 * in-process agent) under an open-loop load, idle against while a training job runs in the trainer's
 * child process (and, for contrast, inside the serving process). This process is the serving
 * runtime and nothing else: it holds what a runtime holds (the job's examples, test images as bytes),
 * not the benchmark's datasets, so its fork, GC pauses and memory are a runtime's.
 *
 *   node --import tsx bench/cl-interference.ts [--requests 5000]   (prints JSON; bench/cl-fashion-mnist.ts runs it)
 */
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { createInProcessAgent } from "../gpu-agent/in-process";
import { imageRow, indicesOfClasses, labelledImages, loadFashionMnistImages } from "../nodes/continual-learning/fashion-mnist";
import { train, trainConfigSchema } from "../nodes/continual-learning/train";
import { stopIdleTrainer, trainInChildProcess } from "../nodes/continual-learning/trainer-process";
import { tensor } from "../sdk/ports";
import { FsModelRegistry } from "../runtime/registry/fs";
import { Runtime } from "../runtime/runtime";

const { values } = parseArgs({ options: { requests: { type: "string", default: "5000" } } });
const requests = Number(values.requests);
const RATE = 500;

function latencyStats(times: number[]) {
  const s = [...times].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.ceil(p * s.length) - 1)];
  return { requests: s.length, p50Ms: q(0.5), p99Ms: q(0.99), maxMs: s.at(-1)! };
}

const dir = mkdtempSync(path.join(os.tmpdir(), "evoflow-cl-interference-"));
const registry = new FsModelRegistry(path.join(dir, "registry"));
const runtime = new Runtime({ dataDir: dir, services: { registry, models: createInProcessAgent({ dataDir: dir, registry }) } });
try {
  const trainImages = await loadFashionMnistImages("train", { to: 12_000 });
  // The first model trains in the child process too: a serving runtime never loads tfjs.
  const first = await trainInChildProcess({ config: trainConfigSchema.parse({ epochs: 1, architecture: { hidden: [64] } }), data: labelledImages(trainImages, indicesOfClasses(trainImages, [0, 1, 2, 3, 4]).slice(0, 2000)) });
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
  const test = await loadFashionMnistImages("test");
  /**
   * Open-loop load: request k is due at start + k / rate whether or not earlier ones have
   * answered, and its latency runs from when it was due, so time the event loop spends
   * blocked (e.g. by training in the same process) counts, as it would for real clients.
   */
  const serve = async (until: () => boolean, minRequests: number) => {
    const times: number[] = [];
    const inFlight = new Set<Promise<void>>();
    const start = performance.now();
    for (let k = 0; k < minRequests || !until(); k++) {
      const due = start + (k * 1000) / RATE;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      // Timers may fire a little early: then the request counts from when it was really sent.
      const sentAt = Math.min(due, performance.now());
      const p = entry.invoke(tensor("float32", [1, 784], imageRow(test, k % test.count))).then(() => void times.push(performance.now() - sentAt));
      inFlight.add(p);
      void p.finally(() => inFlight.delete(p));
    }
    await Promise.all(inFlight);
    return times;
  };
  await serve(() => true, 500); // warm-up
  // Idle is measured before and after the training runs (other work on the machine varies over time).
  const idleTimes = await serve(() => true, requests / 2);
  // A stateless-size job: 12,000 examples, 3 epochs, held by the serving process as a trainer node holds them.
  const job = { config: trainConfigSchema.parse({ mode: "stateless", epochs: 3, architecture: { hidden: [64] } }), data: labelledImages(trainImages, Array.from({ length: 12_000 }, (_, i) => i)) };
  /** Serving latencies while the job trains in the trainer's child process. */
  const duringChildTraining = async () => {
    let done = false;
    const t0 = performance.now();
    const training = trainInChildProcess(job).then((r) => ((done = true), r));
    const times = await serve(() => done, 1);
    return { times, trainingSeconds: (await training).trainingMs / 1000, wallSeconds: (performance.now() - t0) / 1000 };
  };
  // First a job whose process starts for it (as after a quiet spell), then one in the process kept from it.
  stopIdleTrainer();
  const coldChild = await duringChildTraining();
  const keptChild = await duringChildTraining();
  idleTimes.push(...(await serve(() => true, requests / 2)));
  const idle = latencyStats(idleTimes);
  const childRow = (run: typeof coldChild) => {
    const stats = latencyStats(run.times);
    return { ...stats, trainingSeconds: run.trainingSeconds, wallSeconds: run.wallSeconds, p99Ratio: stats.p99Ms / idle.p99Ms };
  };
  stopIdleTrainer();
  let done = false;
  const inProcess = train(job).then(() => (done = true));
  const duringInProcess = latencyStats(await serve(() => done, 1));
  await inProcess;
  const result = {
    pipeline: `io.http → model.onnx (sync, in-process agent on onnxruntime-node) in a serving process of its own, open-loop load of ${RATE} requests/s from inside it, latency from when each request was due`,
    idle,
    trainingInChildProcess: childRow(keptChild),
    trainingInNewChildProcess: childRow(coldChild),
    trainingInServingProcess: { ...duringInProcess, p99Ratio: duringInProcess.p99Ms / idle.p99Ms },
    servingPeakRssMB: Math.round(process.resourceUsage().maxRSS / 1024),
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
} finally {
  await runtime.close();
  await registry.close();
  rmSync(dir, { recursive: true, force: true });
}
