/**
 * Training an sklearn classifier in a Python worker (python/sklearn_trainer.py): stateful by
 * `partial_fit` on a copy of the champion's pickle, stateless by `fit` from scratch. Used by
 * trainer.sklearn and by io.fashion-mnist's sklearn bootstrap. The worker is one of the
 * runtime's long-lived Python workers (python/pool.ts), started for the node and reused for
 * every training, at a lower priority than serving; the data crosses as one float32 tensor.
 */
import path from "node:path";
import { fileURLToPath } from "node:url";
import { z } from "zod";
import { tensor } from "../../sdk/ports";
import type { PythonPool, PythonWorkers } from "../../sdk/python";
import type { TensorSignature } from "../../sdk/registry";
import type { LabelledSet } from "./fashion-mnist";

// This file and the bundle holding it (dist/nodes/index.js) both sit two folders below the project root, where python/ is.
const TRAINER_SCRIPT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..", "python", "sklearn_trainer.py");

export const sklearnTrainConfig = {
  estimator: z
    .string()
    .regex(/^[A-Z][A-Za-z0-9]*$/)
    .default("SGDClassifier")
    .describe("sklearn classifier class, looked up in sklearn.linear_model, neural_network, naive_bayes, tree, ensemble, neighbors, svm, discriminant_analysis (e.g. SGDClassifier, MLPClassifier)"),
  params: z.record(z.string(), z.unknown()).default({}).describe('Its constructor arguments, e.g. {"loss": "log_loss", "alpha": 0.0001}'),
  mode: z.enum(["stateful", "stateless"]).default("stateful").describe("stateful: partial_fit on a copy of the champion (the estimator needs partial_fit); stateless: fit a new estimator from scratch"),
  epochs: z.number().int().min(1).max(1000).default(3).describe("stateful: passes of partial_fit over the shuffled data (at most 1,000)"),
  batchSize: z.number().int().min(1).max(1_000_000).default(256).describe("stateful: rows per partial_fit call (at most 1,000,000)"),
  classes: z.array(z.number().int().min(0).max(1_000_000)).min(2).max(100_000).default([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]).describe("stateful: every class the model may ever predict (partial_fit fixes them at its first call), so `probabilities` has a column per class (labels at most 1,000,000; at most 100,000 classes)"),
  seed: z.number().int().default(0).describe("Seed of the shuffling"),
};
export const sklearnTrainSchema = z.object(sklearnTrainConfig);
export type SklearnTrainConfig = z.output<typeof sklearnTrainSchema>;

export interface SklearnTrained {
  /** The joblib file of the trained estimator (format `sklearn`). */
  model: Uint8Array;
  signature: { inputs: TensorSignature[]; outputs: TensorSignature[] };
  classes: number[];
  warmStart: boolean;
  samplesSeen: number;
  trainAccuracy: number;
  trainingMs: number;
  /** CPU seconds the worker spent on this training. */
  cpuSeconds: number;
}

/** The Python worker a node trains in: started on first use, kept for the next training. */
export function sklearnTrainerPool(workers: PythonWorkers, o: { pipeline: string; node: string; niceness: number; timeoutMs: number; log?: (line: string) => void }): PythonPool {
  return workers.pool({
    source: { file: TRAINER_SCRIPT },
    function: "train",
    setup: { function: "setup", argument: { niceness: o.niceness } },
    workers: 1,
    timeoutMs: o.timeoutMs,
    pipeline: o.pipeline,
    node: o.node,
    log: (_level, line) => o.log?.(line),
  });
}

type WireSignature = { inputs: Omit<TensorSignature, "kind">[]; outputs: Omit<TensorSignature, "kind">[] };

export async function trainSklearn(pool: PythonPool, input: { data: LabelledSet; base?: Uint8Array; config: SklearnTrainConfig }): Promise<SklearnTrained> {
  const { data, base, config } = input;
  const started = performance.now();
  const result = await pool.call({
    x: tensor("float32", [data.count, data.features], data.x),
    y: tensor("int32", [data.count], data.y),
    base: base ?? null,
    config,
  });
  const out = result.value as { model: Uint8Array; signature: WireSignature; classes: number[]; warmStart: boolean; samplesSeen: number; trainAccuracy: number };
  const tensors = (specs: WireSignature["inputs"]): TensorSignature[] => specs.map((s) => ({ ...s, kind: "tensor" }));
  return {
    model: out.model,
    signature: { inputs: tensors(out.signature.inputs), outputs: tensors(out.signature.outputs) },
    classes: out.classes,
    warmStart: out.warmStart,
    samplesSeen: out.samplesSeen,
    trainAccuracy: out.trainAccuracy,
    trainingMs: performance.now() - started,
    cpuSeconds: result.cpuSeconds ?? 0,
  };
}
