/**
 * The trainer core: trains a dense model with tfjs (wasm) on one experience, stateful
 * (warm start from the champion's ONNX weights, with replay / EWC / LwF) or stateless
 * (from scratch), and returns the candidate as ONNX with the champion's exact signature,
 * plus the CL state the next stateful run needs (seen classes, EWC importance, replay buffer).
 * Pure computation: `nodes/continual-learning/trainer-process.ts` runs it in a child process.
 */
import { z } from "zod";
import { seededRandom } from "../../sdk/random";
import { architectureOf, fromOnnx, initDense, toOnnx, type DenseModel } from "./dense";
import { FrozenExtractor, headOf } from "./extractor";
import type { LabelledSet } from "./fashion-mnist";
import { ClassBalancedBuffer, chooseScenario, combineFisher, concatSets, ewcPenalty, lwfPenalty, type Scenario } from "./strategies";
import { PathIntegral, type SiState } from "./synaptic-intelligence";
import type * as TF from "@tensorflow/tfjs";
import { tfReady } from "./tf";

export const trainConfigSchema = z.object({
  mode: z.enum(["stateful", "stateless"]).default("stateful").describe("stateful: warm start from the champion's weights; stateless: train from scratch"),
  architecture: z
    .object({
      kind: z.enum(["softmax-regression", "mlp"]).default("mlp").describe("Used when there is no champion to warm-start from (or mode is stateless)"),
      hidden: z.array(z.number().int().positive().max(65_536)).default([128]).describe("Hidden layer widths of an MLP (at most 65,536 units a layer)"),
      outputSoftmax: z.boolean().default(true).describe("End with a softmax (probabilities) rather than logits"),
    })
    .default({ kind: "mlp", hidden: [128], outputSoftmax: true }),
  classes: z.number().int().min(2).max(100_000).default(10).describe("Output units when there is no champion (at most 100,000)"),
  epochs: z.number().int().min(1).max(1_000).default(3).describe("At most 1,000"),
  batchSize: z.number().int().min(1).max(1_000_000).default(64).describe("At most 1,000,000"),
  optimizer: z.enum(["adam", "momentum", "sgd"]).default("adam").describe("adam; momentum: SGD with momentum 0.9, whose steps follow the gradient's size, so a warm start moves weights the new data says little about less; sgd: plain θ −= learningRate·g"),
  learningRate: z.number().positive().default(0.001).describe("Learning rate of the optimizer"),
  seed: z.number().int().default(1),
  replay: z
    .object({
      memSize: z.number().int().min(1).max(10_000_000).default(200).describe("Rehearsal buffer size (Avalanche's mem_size) (at most 10,000,000)"),
      batchSizeMem: z
        .number()
        .int()
        .min(1)
        .max(1_000_000)
        .optional()
        .describe("Set: every minibatch of new examples is joined by this many examples drawn from the buffer, so an epoch costs 2× the new data whatever memSize is (Avalanche's ReplayPlugin batch_size_mem). Unset: the buffer is appended to the new data and each epoch goes over both"),
    })
    .optional()
    .describe("Class-balanced replay; omit to disable"),
  ewc: z
    .object({
      lambda: z.number().min(0).default(100).describe("Penalty weight λ"),
      mode: z.enum(["online", "separate"]).default("online").describe("online: one running importance, F_t = decay·F_{t−1} + F_new"),
      decay: z.number().min(0).max(1).default(0.9).describe("Online decay factor"),
      importanceSamples: z.number().int().min(1).max(10_000_000).optional().describe("Estimate the importance from this many of the experience's examples, drawn at random (fisher_n in van de Ven et al.'s code); unset: all of them, as Avalanche does (at most 10,000,000)"),
    })
    .optional()
    .describe("Elastic Weight Consolidation; omit to disable"),
  lwf: z
    .object({
      alpha: z.number().min(0).default(1).describe("Distillation weight α"),
      temperature: z.number().positive().default(2).describe("Softmax temperature T"),
    })
    .optional()
    .describe("Learning without Forgetting; omit to disable"),
  si: z
    .object({
      strength: z.number().min(0).default(0.1).describe("Surrogate loss weight c (Zenke et al. 2017 used 0.1 on split MNIST)"),
      damping: z.number().positive().default(0.001).describe("Damping ξ in Ω = ω / (Δθ² + ξ) (Zenke et al.: 1e-3)"),
    })
    .optional()
    .describe("Synaptic Intelligence: per-parameter importance from the path integral of the gradient over training; omit to disable"),
});
export type TrainConfig = z.output<typeof trainConfigSchema>;

/** What a stateful trainer carries from one experience to the next, beside the weights. */
export interface ClState {
  seenClasses: number[];
  /** EWC importance per parameter tensor and the weights it anchors to, one entry per past experience ("separate") or one ("online"). */
  ewc?: { fisher: Float32Array[]; anchor: Float32Array[] }[];
  replay?: LabelledSet;
  /** Synaptic Intelligence's consolidated importance Ω and its anchor θ*. */
  si?: SiState;
  experiences: number;
}

export interface TrainJob {
  config: TrainConfig;
  data: LabelledSet;
  /** The champion's ONNX bytes (stateful warm start, and the signature to keep). */
  base?: Uint8Array;
  state?: ClState;
  /** Train only a dense head on this frozen ONNX model's tensor `output`; the candidate is the extractor followed by the head. */
  extractor?: { bytes: Uint8Array; output: string };
}

export interface TrainProgress {
  epoch: number;
  epochs: number;
  loss: number;
  samples: number;
}

export interface TrainResult {
  onnx: Uint8Array;
  state: ClState;
  scenario: Scenario;
  newClasses: number[];
  /** Examples processed by forward+backward passes (epochs × training-set size, replay included) plus the importance pass. */
  samplesSeen: number;
  trainingMs: number;
  finalLoss: number;
  warmStart: boolean;
}

function paramTensors(tf: typeof TF, model: DenseModel): TF.Variable[] {
  return model.layers.flatMap((l, i) => [tf.variable(tf.tensor2d(l.kernel, [l.inputs, l.units]), true, `W${i}`), tf.variable(tf.tensor1d(l.bias), true, `B${i}`)]);
}

/** Logits (before the last layer's softmax, if any). */
export function forwardLogits(tf: typeof TF, model: DenseModel, params: TF.Tensor[], x: TF.Tensor2D): TF.Tensor2D {
  let h: TF.Tensor2D = x;
  model.layers.forEach((layer, i) => {
    h = tf.add(tf.matMul(h, params[2 * i] as TF.Tensor2D), params[2 * i + 1]) as TF.Tensor2D;
    const last = i === model.layers.length - 1;
    if (last) return;
    if (layer.activation === "relu") h = tf.relu(h);
    else if (layer.activation === "sigmoid") h = tf.sigmoid(h);
    else if (layer.activation === "tanh") h = tf.tanh(h);
  });
  return h;
}

/** The model's outputs as its ONNX file computes them (softmax applied when the model ends in one). */
export async function predict(model: DenseModel, x: Float32Array, count: number): Promise<Float32Array> {
  const tf = await tfReady();
  return tf.tidy(() => {
    const params = model.layers.flatMap((l) => [tf.tensor2d(l.kernel, [l.inputs, l.units]), tf.tensor1d(l.bias)]);
    const logits = forwardLogits(tf, model, params, tf.tensor2d(x, [count, model.layers[0].inputs]));
    return (model.layers.at(-1)!.activation === "softmax" ? tf.softmax(logits) : logits).dataSync() as Float32Array;
  });
}

function shuffled(n: number, random: () => number): Int32Array {
  const idx = Int32Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [idx[i], idx[j]] = [idx[j], idx[i]];
  }
  return idx;
}

/**
 * One epoch's minibatches as row indices into the training set: the new examples (rows 0…n−1)
 * followed by `memory` replay rows. With `batchSizeMem`, each batch of new rows is joined by that
 * many replay rows, drawn in a shuffled cycle over the memory; without it, all rows are shuffled together.
 */
function epochBatches(n: number, memory: number, batchSize: number, batchSizeMem: number | undefined, random: () => number): [Int32Array, number, number][] {
  const batches: [Int32Array, number, number][] = [];
  if (!batchSizeMem || memory === 0) {
    const order = shuffled(n + memory, random);
    for (let from = 0; from < order.length; from += batchSize) batches.push([order, from, Math.min(order.length, from + batchSize)]);
    return batches;
  }
  const order = shuffled(n, random);
  let memOrder = shuffled(memory, random);
  let next = 0;
  for (let from = 0; from < n; from += batchSize) {
    const to = Math.min(n, from + batchSize);
    const batch = new Int32Array(to - from + batchSizeMem);
    batch.set(order.subarray(from, to));
    for (let k = to - from; k < batch.length; k++) {
      if (next === memory) (memOrder = shuffled(memory, random)), (next = 0);
      batch[k] = n + memOrder[next++];
    }
    batches.push([batch, 0, batch.length]);
  }
  return batches;
}

function batchOf(set: LabelledSet, order: Int32Array, from: number, to: number): { x: Float32Array; y: Int32Array } {
  const x = new Float32Array((to - from) * set.features);
  const y = new Int32Array(to - from);
  for (let k = from; k < to; k++) {
    const i = order[k];
    x.set(set.x.subarray(i * set.features, (i + 1) * set.features), (k - from) * set.features);
    y[k - from] = set.y[i];
  }
  return { x, y };
}

/** EWC importance: squared gradients of the mean loss, averaged over minibatches (Avalanche's `compute_importances`). */
async function importance(tf: typeof TF, model: DenseModel, params: TF.Variable[], set: LabelledSet, batchSize: number, classes: number, order: Int32Array): Promise<Float32Array[]> {
  const sums = params.map((p) => new Float32Array(p.size));
  let batches = 0;
  for (let from = 0; from < order.length; from += batchSize) {
    const to = Math.min(order.length, from + batchSize);
    const { x, y } = batchOf(set, order, from, to);
    const grads = tf.tidy(() => {
      const xs = tf.tensor2d(x, [to - from, set.features]);
      const ys = tf.oneHot(tf.tensor1d(y, "int32"), classes);
      const { grads } = tf.variableGrads(() => tf.losses.softmaxCrossEntropy(ys, forwardLogits(tf, model, params, xs)) as TF.Scalar, params);
      return params.map((p) => grads[p.name].square());
    });
    const values = await Promise.all(grads.map((g) => g.data()));
    tf.dispose(grads);
    values.forEach((v, i) => {
      for (let k = 0; k < v.length; k++) sums[i][k] += v[k];
    });
    batches++;
  }
  return sums.map((s) => s.map((v) => v / Math.max(1, batches)));
}

export async function train(job: TrainJob, onProgress?: (p: TrainProgress) => void): Promise<TrainResult> {
  const started = performance.now();
  const frozen = job.extractor && (await FrozenExtractor.create(job.extractor.bytes, job.extractor.output));
  try {
    return await trainDense(job, frozen, started, onProgress);
  } finally {
    await frozen?.release();
  }
}

/** Trains the dense model, or with `frozen` the dense head on the extractor's features (the CL state keeps raw examples either way). */
async function trainDense(job: TrainJob, frozen: FrozenExtractor | undefined, started: number, onProgress?: (p: TrainProgress) => void): Promise<TrainResult> {
  const tf = await tfReady();
  const { config } = job;
  const random = seededRandom(config.seed);
  const warmStart = config.mode === "stateful" && job.base !== undefined;
  const baseModel = job.base ? (frozen ? headOf(job.base, frozen.output) : fromOnnx(job.base)) : undefined;
  const classes = baseModel ? baseModel.layers.at(-1)!.units : config.classes;
  const data = frozen ? await frozen.features(job.data) : job.data;
  const features = data.features;
  if (baseModel && baseModel.layers[0].inputs !== features) throw new Error(`the champion takes ${baseModel.layers[0].inputs} features, the data has ${features}`);
  const prior = config.mode === "stateful" ? job.state : undefined;

  let model: DenseModel;
  if (warmStart) model = baseModel!;
  else {
    const arch = baseModel ? architectureOf(baseModel) : config.architecture;
    model = { ...initDense(features, classes, arch, random), ...(baseModel ? { inputName: baseModel.inputName, outputName: baseModel.outputName, batch: baseModel.batch } : {}) };
  }
  for (let i = 0; i < job.data.count; i++) {
    if (job.data.y[i] < 0 || job.data.y[i] >= classes) throw new Error(`label ${job.data.y[i]} at row ${i} is outside the model's ${classes} classes`);
  }

  const dataClasses = [...new Set(job.data.y)].sort((a, b) => a - b);
  const { scenario, newClasses } = chooseScenario(prior?.seenClasses ?? [], dataClasses);
  const replay = config.mode === "stateful" && config.replay ? prior?.replay : undefined;
  const trainSet = replay ? concatSets(data, frozen ? await frozen.features(replay) : replay) : data;

  const params = paramTensors(tf, model);
  const optimizer = config.optimizer === "momentum" ? tf.train.momentum(config.learningRate, 0.9) : config.optimizer === "sgd" ? tf.train.sgd(config.learningRate) : tf.train.adam(config.learningRate);
  const ewcTerms = warmStart && config.ewc ? prior?.ewc ?? [] : [];
  // LwF distils the champion's answers on the classes it has already seen.
  const lwfUnits = warmStart && config.lwf ? (prior?.seenClasses ?? []) : [];
  const oldLogits = lwfUnits.length ? tf.tidy(() => forwardLogits(tf, baseModel!, baseModel!.layers.flatMap((l) => [tf.tensor2d(l.kernel, [l.inputs, l.units]), tf.tensor1d(l.bias)]), tf.tensor2d(trainSet.x, [trainSet.count, features])).dataSync() as Float32Array) : undefined;

  const siPrior = warmStart && config.si ? prior?.si : undefined;
  const readParams = async () => Promise.all(params.map(async (p) => (await p.data()) as Float32Array));
  const pathIntegral = config.si && config.mode === "stateful" ? new PathIntegral(await readParams()) : undefined;

  let samplesSeen = 0;
  let finalLoss = NaN;
  for (let epoch = 0; epoch < config.epochs; epoch++) {
    let lossSum = 0;
    let batches = 0;
    for (const [order, from, to] of epochBatches(data.count, trainSet.count - data.count, config.batchSize, config.replay?.batchSizeMem, random)) {
      const { x, y } = batchOf(trainSet, order, from, to);
      const old = oldLogits ? batchOf({ x: oldLogits, y: trainSet.y, count: trainSet.count, features: classes }, order, from, to).x : undefined;
      // The loss without SI's surrogate: its gradient is the g of SI's path integral.
      const { value: loss, grads } = tf.variableGrads(() => {
        const logits = forwardLogits(tf, model, params, tf.tensor2d(x, [to - from, features]));
        let total = tf.losses.softmaxCrossEntropy(tf.oneHot(tf.tensor1d(y, "int32"), classes), logits) as TF.Scalar;
        for (const term of ewcTerms) total = total.add(ewcPenalty(tf, params, term.fisher, term.anchor, config.ewc!.lambda));
        if (old) total = total.add(lwfPenalty(tf, logits, tf.tensor2d(old, [to - from, classes]), lwfUnits, config.lwf!.alpha, config.lwf!.temperature));
        return total;
      }, params);
      if (pathIntegral) pathIntegral.gradient(await Promise.all(params.map(async (p) => (await grads[p.name].data()) as Float32Array)));
      let surrogateLoss = 0;
      if (siPrior) {
        // The surrogate c·Σ Ω(θ − θ*)² joins the step through its exact gradient 2c·Ω·(θ − θ*).
        params.forEach((p, i) => {
          const [gradient, penalty] = tf.tidy(() => {
            const diff = p.sub(tf.tensor(siPrior.anchor[i], p.shape));
            const omega = tf.tensor(siPrior.omega[i], p.shape);
            return [grads[p.name].add(omega.mul(diff).mul(2 * config.si!.strength)), omega.mul(diff.square()).sum().mul(config.si!.strength)];
          });
          grads[p.name].dispose();
          grads[p.name] = gradient;
          surrogateLoss += (penalty.dataSync() as Float32Array)[0];
          penalty.dispose();
        });
      }
      optimizer.applyGradients(params.map((p) => ({ name: p.name, tensor: grads[p.name] })));
      tf.dispose(Object.values(grads));
      if (pathIntegral) pathIntegral.step(await readParams());
      lossSum += (await loss.data())[0] + surrogateLoss;
      loss.dispose();
      batches++;
      samplesSeen += to - from;
    }
    finalLoss = lossSum / Math.max(1, batches);
    onProgress?.({ epoch: epoch + 1, epochs: config.epochs, loss: finalLoss, samples: samplesSeen });
  }

  const trained: DenseModel = {
    ...model,
    layers: await Promise.all(model.layers.map(async (l, i) => ({ ...l, kernel: (await params[2 * i].data()) as Float32Array, bias: (await params[2 * i + 1].data()) as Float32Array }))),
  };

  const state: ClState = { seenClasses: [...new Set([...(prior?.seenClasses ?? []), ...dataClasses])].sort((a, b) => a - b), experiences: (prior?.experiences ?? 0) + 1 };
  if (config.ewc && config.mode === "stateful") {
    const examples = config.ewc.importanceSamples && config.ewc.importanceSamples < data.count ? shuffled(data.count, random).subarray(0, config.ewc.importanceSamples) : Int32Array.from({ length: data.count }, (_, i) => i);
    const fresh = await importance(tf, model, params, data, config.batchSize, classes, examples);
    samplesSeen += examples.length;
    const anchor = trained.layers.flatMap((l) => [l.kernel, l.bias]);
    const previous = prior?.ewc ?? [];
    state.ewc = config.ewc.mode === "online" ? [{ fisher: combineFisher(previous[0]?.fisher, fresh, config.ewc.decay), anchor }] : [...previous, { fisher: fresh, anchor }];
  }
  if (pathIntegral) state.si = pathIntegral.consolidate(trained.layers.flatMap((l) => [l.kernel, l.bias]), config.si!.damping, siPrior);
  if (config.replay && config.mode === "stateful") {
    const buffer = new ClassBalancedBuffer(config.replay.memSize, job.data.features, random);
    if (prior?.replay) buffer.add(prior.replay);
    buffer.add(job.data);
    state.replay = buffer.contents();
  }
  tf.dispose(params);
  optimizer.dispose();

  const metadata = { "evoflow.trainer": "trainer.tfjs", "evoflow.mode": config.mode, "evoflow.scenario": scenario };
  const onnx = frozen ? frozen.merge(trained, metadata) : toOnnx(trained, metadata);
  return { onnx, state, scenario, newClasses, samplesSeen, trainingMs: performance.now() - started, finalLoss, warmStart };
}
