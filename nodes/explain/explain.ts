/**
 * The two explainers as one call each, from a model scorer to the `Explanation` payload the
 * nodes emit and the on-demand route keeps in the trace; and their options, one zod schema
 * each, shared by the node configs and the route's body.
 */
import { z, type Explanation } from "../../sdk";
import { kernelShap, MAX_EXACT_FEATURES, type ExplainProgress } from "./kernel-shap";
import type { ModelScorer } from "./model-scorer";
import { imageGeometry, occlusion } from "./occlusion";

const target = z
  .union([z.number().int().min(0), z.literal("predicted")])
  .default("predicted")
  .describe('The output index (class) explained; "predicted": the one the model scores highest for the explained input');

export const shapOptions = z.object({
  target,
  exactMaxFeatures: z
    .number()
    .int()
    .min(1)
    .max(MAX_EXACT_FEATURES)
    .default(10)
    .describe("Inputs with at most this many features get exact Shapley values (every coalition valued: 2^features × background rows model rows)"),
  samples: z.number().int().min(16).max(65536).default(1024).describe("Coalitions sampled (in complementary pairs, by the Shapley kernel) for inputs with more features"),
  seed: z.number().int().default(0).describe("Seed of the coalition sampling, so an explanation can be repeated"),
});

export const occlusionOptions = z.object({
  target,
  patch: z.number().int().min(1).max(1024).default(4).describe("Side of the square patch, in pixels"),
  stride: z.number().int().min(1).max(1024).default(2).describe("Pixels between patch positions"),
  fill: z.union([z.number(), z.literal("mean")]).default(0).describe('What covers the patch: a value, or "mean" (the image\'s mean)'),
  height: z.number().int().min(1).max(16_384).optional().describe("Image height; default: the tensor's second-to-last dimension, or the side of a flat square (784 → 28)"),
  width: z.number().int().min(1).max(16_384).optional().describe("Image width; default: the tensor's last dimension, or the side of a flat square"),
});

export type ShapOptions = z.output<typeof shapOptions>;
export type OcclusionOptions = z.output<typeof occlusionOptions>;

const float32 = (shape: number[], values: ArrayLike<number>): Explanation["attributions"] => ({ dtype: "float32", shape, data: Float32Array.from(values) });

export async function explainWithShap(scorer: ModelScorer, background: Float64Array[], options: ShapOptions, progress?: ExplainProgress): Promise<Explanation> {
  const started = performance.now();
  const result = await kernelShap(scorer.x, background, scorer.score, options, progress);
  return {
    method: "kernel-shap",
    ...describeScorer(scorer),
    score: result.score,
    baseValue: result.baseValue,
    attributions: float32(scorer.shape, result.values),
    exact: result.exact,
    coalitions: result.coalitions,
    background: background.length,
    evaluations: scorer.evaluations,
    ms: Math.round(performance.now() - started),
  };
}

export async function explainWithOcclusion(scorer: ModelScorer, options: OcclusionOptions, progress?: ExplainProgress): Promise<Explanation> {
  const started = performance.now();
  const image = imageGeometry(scorer.shape, scorer.x.length, options);
  const result = await occlusion(scorer.x, image, scorer.score, options, progress);
  return {
    method: "occlusion",
    ...describeScorer(scorer),
    score: result.score,
    attributions: float32([image.height, image.width], result.map),
    patch: { size: Math.min(options.patch, image.height, image.width), stride: options.stride, fill: options.fill },
    topPatches: result.patches.slice(0, 5),
    evaluations: scorer.evaluations,
    ms: Math.round(performance.now() - started),
  };
}

function describeScorer(scorer: ModelScorer): Pick<Explanation, "model" | "input" | "output" | "target"> {
  return { model: scorer.model, input: scorer.input, output: scorer.output, target: scorer.target };
}
