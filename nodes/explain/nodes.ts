/**
 * Explainers as nodes: hang one off a model's input on an async edge and it explains the
 * requests it sees, calling the same registry model through the `models` service, without
 * adding latency to the request path. What it emits is a message of the request's trace (its
 * parent is the input explained), so `evoflow trace` and the editor's trace view show it.
 */
import { defineNode, parseModelRef, port, Ring, z, type ModelService, type NodeContext, type Tensor } from "../../sdk";
import { models as modelsService } from "../services";
import { explainWithOcclusion, explainWithShap, occlusionOptions, shapOptions } from "./explain";
import { modelScorer, tensorValues } from "./model-scorer";

const modelFields = {
  model: z
    .string()
    .refine((s) => { try { parseModelRef(s, "champion"); return true; } catch { return false; } }, { message: 'use "name", "name@3", "name@champion" or "name@latest"' })
    .describe('The model explained, as the model node names it: "name@3" pins a version, "name" follows the champion'),
  input: z.string().optional().describe("The model input the tensor feeds; the model's only input when absent"),
  output: z.string().optional().describe("The model output explained; the model's first output when absent"),
  every: z.number().int().min(1).default(1).describe("Explain one message in this many (explanations cost many model runs)"),
};

const shapConfig = shapOptions.extend({
  ...modelFields,
  background: z
    .array(z.array(z.number()).min(1))
    .min(1)
    .optional()
    .describe("Fixed background rows (each as many features as the input); absent: the last `backgroundSize` inputs the node saw"),
  backgroundSize: z.number().int().min(1).max(1000).default(32).describe("Without a fixed background: inputs kept as the background; messages before it is full only fill it"),
});

const occlusionConfig = occlusionOptions.extend(modelFields);

/** The version a node explains now: pinned, or the champion, followed as the model node follows it. */
async function followModel(ctx: NodeContext, models: ModelService, reference: string) {
  const { name, ref } = parseModelRef(reference, "champion");
  let version = await models.resolve(name, ref);
  const unwatch = ref === "champion" ? models.watchChampion(name, (v) => v !== undefined && (version = v)) : undefined;
  ctx.log("debug", `explaining ${name}@${version}`);
  return { current: () => ({ name, version }), stop: () => unwatch?.() };
}

const explanationOut = { out: port.record("explanation") };

export const kernelShapNode = defineNode({
  type: "explain.kernel-shap",
  category: "explain",
  title: "Kernel SHAP explainer",
  icon: "φ",
  description:
    "Model-agnostic Shapley values (Kernel SHAP) of a registry model's prediction for each tensor it receives, against a background set: exact for few features, kernel-weighted coalition sampling otherwise. Emits an explanation in the request's trace.",
  example: { config: { model: "scorer", background: [[0, 0, 0, 0]] }, input: { dtype: "float32", shape: [1, 4], data: [1, 2, 3, 4] } },
  inputs: { in: port.tensor() },
  outputs: explanationOut,
  config: shapConfig,
  services: [modelsService],
  create: async (ctx, cfg) => {
    const models = ctx.service(modelsService);
    const model = await followModel(ctx, models, cfg.model);
    const fixed = cfg.background?.map((row) => Float64Array.from(row));
    const recent = new Ring<Float64Array>(cfg.backgroundSize);
    let seen = 0;
    let explained = 0;
    return {
      async onMessage(_port, message, emit) {
        const input = message.payload as Tensor;
        const x = tensorValues(input, "the input");
        const background = fixed ?? recent.toArray();
        const ready = fixed !== undefined || background.length === cfg.backgroundSize;
        recent.push(x);
        if (!ready || seen++ % cfg.every !== 0) return;
        const scorer = await modelScorer(models, model.current(), input, cfg);
        const explanation = await explainWithShap(scorer, background, cfg);
        explained++;
        await emit("out", explanation, { model: scorer.model });
      },
      stop: () => model.stop(),
      status: () => ({ model: `${model.current().name}@${model.current().version}`, explained, background: fixed ? fixed.length : `${Math.min(recent.total, cfg.backgroundSize)}/${cfg.backgroundSize}` }),
    };
  },
});

export const occlusionNode = defineNode({
  type: "explain.occlusion",
  category: "explain",
  title: "Occlusion explainer",
  icon: "▦",
  description:
    "For image models: slides a patch over the image, covers it, and records how much the target class's score drops; emits a height×width attribution map in the request's trace.",
  example: { config: { model: "fashion", patch: 4, stride: 2 } },
  inputs: { in: port.tensor() },
  outputs: explanationOut,
  config: occlusionConfig,
  services: [modelsService],
  create: async (ctx, cfg) => {
    const models = ctx.service(modelsService);
    const model = await followModel(ctx, models, cfg.model);
    let seen = 0;
    let explained = 0;
    return {
      async onMessage(_port, message, emit) {
        if (seen++ % cfg.every !== 0) return;
        const scorer = await modelScorer(models, model.current(), message.payload as Tensor, cfg);
        const explanation = await explainWithOcclusion(scorer, cfg);
        explained++;
        await emit("out", explanation, { model: scorer.model });
      },
      stop: () => model.stop(),
      status: () => ({ model: `${model.current().name}@${model.current().version}`, explained }),
    };
  },
});
