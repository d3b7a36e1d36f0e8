/**
 * The live-test task shared by the A/B and bandit tests: random 16-wide inputs whose true class
 * (of 4) is what a teacher MLP answers; real ONNX models of known quality built from it.
 * The teacher itself is always right; a slightly noisy teacher about 81% (rollout-pipeline.test.ts);
 * an unrelated MLP about chance.
 */
import { buildMlp } from "../../onnx/build";
import { makeMlp, randomFloats } from "../fixtures/mlp";

export const FEATURES = 16;
export const CLASSES = 4;
export const POOL = 2000;

export const teacher = makeMlp({ sizes: [FEATURES, 32, CLASSES], seed: 11 });
export const inputs = randomFloats(POOL * FEATURES, 99);
export const truth = Array.from({ length: POOL }, (_, i) => argmax(teacher.forward(row(i), 1)));
export const noisyTeacher = (amplitude: number, seed: number) =>
  buildMlp({ inputSize: FEATURES, layers: teacher.layers.map((l, i) => ({ ...l, weights: l.weights.map((w, j) => w + randomFloats(l.weights.length, seed + i)[j] * amplitude) })) });
export const unrelated = () => makeMlp({ sizes: [FEATURES, 32, CLASSES], seed: 12 }).bytes;

export function row(i: number): Float32Array {
  return inputs.slice((i % POOL) * FEATURES, ((i % POOL) + 1) * FEATURES);
}

export function argmax(v: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < v.length; i++) if (v[i] > v[best]) best = i;
  return best;
}
