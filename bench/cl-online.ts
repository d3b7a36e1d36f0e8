/**
 * The online strategies of the CL demo (bench/cl-demo.ts): model.online's learners on the same
 * stream. The learner first learns the first champion's examples (what the batch strategies' first
 * champion was trained on), then answers every request from its current state and learns every
 * label as it arrives (labelDelay late; the same share is kept back as holdout). The accuracy matrix
 * is computed at each phase end on online-json snapshots through the validator gate's own scoring
 * (evaluateArtifact). Learning time is the compute; there is no trigger, no gate and no promotion.
 */
import { evaluateArtifact } from "../nodes/continual-learning/gate";
import type { LabelledSet } from "../nodes/continual-learning/fashion-mnist";
import { clMetrics } from "../nodes/continual-learning/metrics";
import { learnerConfig, ONLINE_FORMAT, OnlineLearner } from "../nodes/model/online/learner";
import { seededRandom } from "../sdk/random";
import type { DemoOptions, StrategyName, StrategyResult, StreamItem } from "./cl-demo";

export async function runOnlineStrategy(strategy: StrategyName, options: DemoOptions, stream: StreamItem[], initial: LabelledSet, tests: LabelledSet[]): Promise<StrategyResult> {
  const config = learnerConfig.parse(strategy === "online-tree" ? { kind: "hoeffding-tree" } : { kind: "logistic-regression" });
  const learner = new OnlineLearner(config, 784, 10);
  const random = seededRandom(options.seed + 7);
  let learningMs = 0;
  const learn = (x: Float32Array, y: number) => {
    const t = performance.now();
    learner.learnOne(x, y);
    learningMs += performance.now() - t;
  };
  for (let i = 0; i < initial.count; i++) learn(initial.x.subarray(i * 784, (i + 1) * 784), initial.y[i]);

  const argmax = (p: Float32Array) => p.indexOf(Math.max(...p));
  const predictions: number[] = new Array(stream.length);
  const windows: StrategyResult["windows"] = [];
  const matrix: (number | null)[][] = [];
  const phaseEnds = options.phases.reduce<number[]>((acc, p) => [...acc, (acc.at(-1) ?? 0) + p.count], []);
  const snapshotAccuracy = async (set: LabelledSet) => (await evaluateArtifact({ bytes: learner.snapshot(), format: ONLINE_FORMAT }, set)).accuracy;
  for (let i = 0; i < stream.length; i++) {
    predictions[i] = argmax(learner.predictProbaOne(stream[i].x));
    const j = i - options.labelDelay;
    if (j >= 0 && !(random() < options.holdoutShare)) learn(stream[j].x, stream[j].y);
    const end = i + 1;
    if (end % options.window === 0 || end === stream.length) {
      const from = Math.max(0, end - options.window);
      let right = 0;
      for (let k = from; k < end; k++) if (predictions[k] === stream[k].y) right++;
      windows.push({ end, accuracy: right / (end - from) });
    }
    const phase = phaseEnds.indexOf(end);
    if (phase >= 0) {
      const row: (number | null)[] = tests.map(() => null);
      for (let e = 0; e <= phase; e++) row[e] = await snapshotAccuracy(tests[e]);
      matrix.push(row);
      options.onProgress?.(strategy, end, stream.length);
    }
  }
  const lastPhaseStart = stream.length - options.phases.at(-1)!.count;
  const half = lastPhaseStart + Math.floor(options.phases.at(-1)!.count / 2);
  let right = 0;
  for (let i = half; i < stream.length; i++) if (predictions[i] === stream[i].y) right++;
  return {
    strategy,
    windows,
    updates: [],
    compute: { trainingSeconds: learningMs / 1000, samplesSeen: learner.updates, trainings: 0 },
    finalAccuracy: await snapshotAccuracy(tests.at(-1)!),
    finalStreamAccuracy: right / (stream.length - half),
    cl: clMetrics(matrix),
    // Always learning: no promotion to wait for.
    timeToPromotion: options.phases.slice(1).map((p, k) => ({ shift: p.name, at: phaseEnds[k] })),
  };
}
