/**
 * Explainers as nodes: hang one off a model's input on an async edge and it explains the
 * requests it sees, calling the same registry model through the `models` service, without
 * adding latency to the request path. What it emits is a message of the request's trace (its
 * parent is the input explained), so `evoflow trace` and the editor's trace view show it.
 */
import { defineNode, parseModelRef, port, Ring, z, type Explanation, type Message, type NodeContext, type NodeInstance, type Tensor } from "../../sdk";
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
  every: z.number().int().min(1).max(1_000_000).default(1).describe("Explain one message in this many (explanations cost many model runs)"),
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

/**
 * An explainer's instance: the model version it explains now (pinned, or the champion, followed
 * as the model node follows it), one message in `every` explained (of those `explain` does not
 * skip by answering undefined), the explanation emitted in the message's trace.
 */
async function explainerInstance(
  ctx: NodeContext,
  cfg: { model: string; every: number },
  explain: (message: Message, model: { name: string; version: number }, due: () => boolean) => Promise<Explanation | undefined>,
  status: () => Record<string, unknown> = () => ({}),
): Promise<NodeInstance> {
  const models = ctx.service(modelsService);
  const { name, ref } = parseModelRef(cfg.model, "champion");
  let version = await models.resolve(name, ref);
  const unwatch = ref === "champion" ? models.watchChampion(name, (v) => v !== undefined && (version = v)) : undefined;
  let seen = 0;
  let explained = 0;
  return {
    async onMessage(_port, message, emit) {
      const explanation = await explain(message, { name, version }, () => seen++ % cfg.every === 0);
      if (!explanation) return;
      explained++;
      await emit("out", explanation, { model: explanation.model });
    },
    stop: () => unwatch?.(),
    status: () => ({ model: `${name}@${version}`, explained, ...status() }),
  };
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
  create: (ctx, cfg) => {
    const models = ctx.service(modelsService);
    const fixed = cfg.background?.map((row) => Float64Array.from(row));
    const recent = new Ring<Float64Array>(cfg.backgroundSize);
    return explainerInstance(
      ctx,
      cfg,
      async (message, model, due) => {
        const input = message.payload as Tensor;
        const background = fixed ?? recent.toArray();
        recent.push(tensorValues(input, "the input"));
        // Until the background is full, messages only fill it.
        if ((!fixed && background.length < cfg.backgroundSize) || !due()) return undefined;
        return explainWithShap(await modelScorer(models, model, input, cfg), background, cfg);
      },
      () => ({ background: fixed ? fixed.length : `${Math.min(recent.total, cfg.backgroundSize)}/${cfg.backgroundSize}` }),
    );
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
  create: (ctx, cfg) => {
    const models = ctx.service(modelsService);
    return explainerInstance(ctx, cfg, async (message, model, due) =>
      due() ? explainWithOcclusion(await modelScorer(models, model, message.payload as Tensor, cfg), cfg) : undefined,
    );
  },
});
