import { z } from "zod";
import { imageRow, indicesOfClasses, labelledImages, loadFashionMnistImages, type LabelledSet } from "../continual-learning/fashion-mnist";
import { seededRandom } from "../../sdk/random";
import { trainConfigSchema } from "../continual-learning/train";
import { trainInChildProcess } from "../continual-learning/trainer-process";
import { sklearnTrainerPool, sklearnTrainSchema, trainSklearn } from "../continual-learning/sklearn-train";
import { defineNode, isTensor, port, tensor, type NodeContext } from "../../sdk";
import { MODEL_NAME, type RegisterInput } from "../../sdk/registry";
import { python as pythonService, registry as registryService } from "../services";

const phase = z.object({
  count: z.number().int().min(1).max(10_000_000).describe("Requests in this phase (at most 10,000,000)"),
  classes: z.array(z.number().int().min(0).max(9)).min(1).describe("Fashion-MNIST classes drawn from"),
  shift: z.enum(["none", "invert", "rotate90"]).default("none").describe("Domain shift applied to the images"),
});

/** The first 10,000 training images are the bootstrap's; the stream draws from the rest. */
const BOOTSTRAP_IMAGES = 10_000;

const DEFAULT_PHASES = [
  { count: 1000, classes: [0, 1, 2, 3, 4], shift: "none" as const },
  { count: 2500, classes: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], shift: "none" as const },
  { count: 2500, classes: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], shift: "invert" as const },
];

type Bootstrap = { epochs: number; hidden: number[]; trainer: "tfjs" | "sklearn"; estimator: string; params: Record<string, unknown> };

/** The first champion's artifact, trained apart from serving: tfjs in a child process (the serving process never loads tfjs), sklearn in a Python worker. */
async function bootstrapArtifact(ctx: NodeContext, b: Bootstrap, data: LabelledSet): Promise<Pick<RegisterInput, "artifact" | "format" | "signature" | "allowExec">> {
  if (b.trainer === "tfjs") {
    const first = await trainInChildProcess({ config: trainConfigSchema.parse({ epochs: b.epochs, architecture: { hidden: b.hidden } }), data });
    return { artifact: first.onnx };
  }
  const pool = sklearnTrainerPool(ctx.service(pythonService), { pipeline: ctx.pipeline, node: ctx.nodeId, niceness: 10, timeoutMs: 600_000, log: (line) => ctx.log("info", line) });
  try {
    await pool.start();
    // Stateful from scratch: partial_fit declares every class 0-9, so the model answers 10 probabilities as the stream's classes grow.
    const first = await trainSklearn(pool, { data, config: sklearnTrainSchema.parse({ estimator: b.estimator, params: b.params, epochs: b.epochs, mode: "stateful" }) });
    return { artifact: first.model, format: "sklearn", signature: first.signature, allowExec: true };
  } finally {
    await pool.close();
  }
}

/**
 * A Fashion-MNIST request stream for CL demos (Debian's dataset-fashion-mnist): each image goes
 * out on `request` (wire it to the model with a sync edge); its label follows `labelDelay`
 * requests later on `label` ({requestId, label}, the request's trace id), with the outcome of
 * the model's answer on `outcome` ({prediction, label, correct, error}). Phases shift the
 * stream: new classes, inverted or rotated images. With `bootstrap`, it first trains and
 * promotes a champion on a few classes when the model has none, so the pipeline runs on a
 * fresh data folder (nodes are created in id order: give this node an id that sorts before
 * the model node's). It names no file: the read-only dataset is found where Debian installs it
 * (or in FASHION_MNIST_DIR, the operator's setting), so it has no path field to confine and
 * needs no capability.
 */
export default defineNode({
  type: "io.fashion-mnist",
  category: "io",
  title: "Fashion-MNIST stream",
  description:
    "Streams Fashion-MNIST images as requests (sync to a model), then their labels late on `label` and the outcome of each answer on `outcome`; phases shift the stream (new classes, inverted or rotated images). Can bootstrap a first champion.",
  inputs: {},
  outputs: {
    request: port.tensor({ dtype: "float32", shape: [1, 784] }),
    label: port.record("label"),
    outcome: port.record("outcome"),
  },
  config: z.object({
    phases: z.array(phase).min(1).default(DEFAULT_PHASES).describe("The stream, phase after phase"),
    rate: z.number().min(0).default(200).describe("Requests per second; 0 sends as fast as answers come"),
    labelDelay: z.number().int().min(0).max(1_000_000).default(50).describe("Labels arrive this many requests after their request (at most 1,000,000)"),
    seed: z.number().int().default(1),
    poolSize: z
      .number()
      .int()
      .min(11_000)
      .max(60_000)
      .default(20_000)
      .describe("Training images loaded: the first 10,000 are the bootstrap's, the stream draws from the rest (the stream holds the ones after the first 10,000, 785 bytes each)"),
    bootstrap: z
      .object({
        // The registry's own rule, so a bad name is a validation error rather than a failed deploy.
        model: z
          .string()
          .regex(MODEL_NAME, 'a registry model name: letters, digits, ".", "_" and "-", starting with a letter or digit, at most 128')
          .refine((n) => !n.includes(".."), 'a registry model name holds no ".."')
          .describe("Registry model to bootstrap"),
        classes: z.array(z.number().int().min(0).max(9)).default([0, 1, 2, 3, 4]),
        samples: z.number().int().min(10).max(60_000).default(1500).describe("At most 60,000"),
        epochs: z.number().int().min(1).max(1_000).default(3).describe("At most 1,000"),
        hidden: z.array(z.number().int().positive().max(65_536)).default([64]).describe("trainer tfjs: layer widths at most 65,536"),
        trainer: z.enum(["tfjs", "sklearn"]).default("tfjs").describe("tfjs: a dense ONNX model trained in a child process; sklearn: an sklearn classifier (partial_fit, every class 0-9 declared) in a Python worker, registered as format sklearn (needs exec)"),
        estimator: sklearnTrainSchema.shape.estimator,
        params: sklearnTrainSchema.shape.params,
      })
      .optional()
      .describe("Train and promote a first champion when the model has none"),
  }),
  // An sklearn bootstrap unpickles nothing but writes a pickle the agent loads: code the pipeline makes run.
  capabilities: (cfg) => (cfg.bootstrap?.trainer === "sklearn" ? ["exec"] : []),
  create: async (ctx, cfg) => {
    if (cfg.bootstrap) {
      const registry = ctx.service(registryService);
      if (!(await registry.get(cfg.bootstrap.model, "champion"))) {
        const images = await loadFashionMnistImages("train", { to: BOOTSTRAP_IMAGES });
        const pool = indicesOfClasses(images, cfg.bootstrap.classes).slice(0, cfg.bootstrap.samples);
        const first = await bootstrapArtifact(ctx, cfg.bootstrap, labelledImages(images, pool));
        const v = await registry.register({ name: cfg.bootstrap.model, ...first, labels: { classes: cfg.bootstrap.classes.join(","), trainer: `io.fashion-mnist bootstrap (${cfg.bootstrap.trainer})` } });
        await registry.promote(cfg.bootstrap.model, v.version, "bootstrap champion");
        ctx.log("info", `bootstrapped ${cfg.bootstrap.model}@${v.version} on classes ${cfg.bootstrap.classes}`);
      }
    }
    const random = seededRandom(cfg.seed);
    let sent = 0;
    let correct = 0;
    let labelled = 0;
    let loop: Promise<void> | undefined;
    const total = cfg.phases.reduce((a, p) => a + p.count, 0);
    return {
      start(emit) {
        loop = (async () => {
          const images = await loadFashionMnistImages("train", { from: BOOTSTRAP_IMAGES, to: cfg.poolSize });
          const pending: { requestId: string; label: number; prediction: number }[] = [];
          const release = async () => {
            const due = pending.shift()!;
            labelled++;
            if (due.prediction === due.label) correct++;
            await emit("label", { requestId: due.requestId, label: due.label }, { parents: [] });
            await emit("outcome", { prediction: due.prediction, label: due.label, correct: due.prediction === due.label, error: due.prediction === due.label ? 0 : 1 }, { parents: [] });
          };
          const started = Date.now();
          for (const p of cfg.phases) {
            const pool = indicesOfClasses(images, p.classes);
            for (let n = 0; n < p.count; n++) {
              if (ctx.signal.aborted) return;
              const index = pool[Math.floor(random() * pool.length)];
              const replies = await emit("request", tensor("float32", [1, 784], imageRow(images, index, p.shift)));
              const scores = replies[0]?.payload;
              const values = isTensor(scores) ? (scores.data as Float32Array) : undefined;
              const prediction = values ? values.indexOf(Math.max(...values)) : -1;
              pending.push({ requestId: replies[0]?.traceId ?? "", label: images.y[index], prediction });
              sent++;
              if (pending.length > cfg.labelDelay) await release();
              if (cfg.rate > 0) {
                const wait = started + (sent * 1000) / cfg.rate - Date.now();
                if (wait > 0) await new Promise((r) => setTimeout(r, wait));
              }
            }
          }
          while (pending.length && !ctx.signal.aborted) await release();
        })().catch((err: Error) => {
          if (!ctx.signal.aborted) ctx.log("error", `stream stopped: ${err.message}`);
        });
      },
      async stop() {
        await loop;
      },
      status: () => ({ sent, total, done: sent === total, labelled, accuracy: labelled ? correct / labelled : undefined }),
    };
  },
});
