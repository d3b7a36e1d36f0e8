/**
 * explain.kernel-shap and explain.occlusion on async edges of a running pipeline, against real
 * linear ONNX models run by onnxruntime: Kernel SHAP must give the exact Shapley values
 * w·(x − mean(background)), enumerated and sampled; occlusion must find the one patch a model looks at.
 */
import { afterEach, describe, expect, it } from "vitest";
import type { Explanation, Message, Tensor } from "../../sdk";
import { makeMlp, randomFloats } from "../fixtures/mlp";
import { linearModel, linearShap, modelRuntime, scoringPipeline } from "./fixtures";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function deployed(model: Uint8Array, explainers: Parameters<typeof scoringPipeline>[1]) {
  const setup = await modelRuntime();
  cleanups.push(setup.close);
  await setup.registry.register({ name: "clf", artifact: model });
  await setup.registry.promote("clf", 1);
  const running = await setup.runtime.deploy(scoringPipeline("clf", explainers));
  return { ...setup, running, entry: running.entrypoints.get("scorer")! };
}

/** The explanations node `id` emitted in a trace, once the async edges are idle. */
async function explanationsIn(running: { idle(): Promise<void>; traces: { messages(t: string): Message[] } }, traceId: string, id: string): Promise<Message<Explanation>[]> {
  await running.idle();
  return running.traces.messages(traceId).filter((m) => m.source.node === id) as Message<Explanation>[];
}

const row = (features: number, seed: number): Tensor => ({ dtype: "float32", shape: [1, features], data: randomFloats(features, seed, 2) });

describe("explain.kernel-shap", () => {
  it("gives the exact Shapley values of a linear model, every coalition enumerated, stored in the request's trace", async () => {
    const model = linearModel(5, 3, 7);
    const background = [0, 1, 2, 3].map((s) => Array.from(randomFloats(5, 100 + s, 3)));
    const { running, entry } = await deployed(model.bytes, [{ id: "shap", type: "explain.kernel-shap", config: { model: "clf", background, target: 2 } }]);
    const x = row(5, 1);
    const [reply] = await entry.invoke(x);
    const [explained] = await explanationsIn(running, reply.traceId, "shap");
    const e = explained.payload;
    expect(e).toMatchObject({ method: "kernel-shap", model: { name: "clf", version: 1 }, target: 2, exact: true, coalitions: 32, background: 4 });
    // Its parent is the request the model served: the trace joins it to the prediction.
    expect(explained.parents).toEqual(reply.parents);
    expect(explained.source.model).toEqual({ name: "clf", version: 1 });
    const expected = linearShap(model, 2, x.data as Float32Array, background);
    Array.from(e.attributions.data).forEach((v, i) => expect(v).toBeCloseTo(expected[i], 4));
    expect(e.score).toBeCloseTo((reply.payload as Tensor).data[2] as number, 4);
    expect(Array.from(e.attributions.data).reduce((s, v) => s + v, 0)).toBeCloseTo(e.score - e.baseValue!, 4);
  });

  it("samples coalitions by the Shapley kernel when the features are too many, and is still exact on a linear model", async () => {
    const model = linearModel(40, 2, 9);
    const background = [0, 1, 2].map((s) => Array.from(randomFloats(40, 200 + s)));
    const { running, entry } = await deployed(model.bytes, [{ id: "shap", type: "explain.kernel-shap", config: { model: "clf", background, samples: 200, target: "predicted" } }]);
    const x = row(40, 3);
    const [reply] = await entry.invoke(x);
    const [{ payload: e }] = await explanationsIn(running, reply.traceId, "shap");
    const scores = (reply.payload as Tensor).data as Float32Array;
    expect(e.target).toBe(scores[1] > scores[0] ? 1 : 0);
    expect(e.exact).toBe(false);
    expect(e.coalitions).toBe(202);
    const expected = linearShap(model, e.target, x.data as Float32Array, background);
    Array.from(e.attributions.data).forEach((v, i) => expect(v).toBeCloseTo(expected[i], 3));
  });

  it("with fewer coalitions than features still answers, its values adding up to f(x) − base", async () => {
    const model = linearModel(40, 2, 29);
    const { running, entry } = await deployed(model.bytes, [{ id: "shap", type: "explain.kernel-shap", config: { model: "clf", background: [Array.from(randomFloats(40, 9))], samples: 16 } }]);
    const [reply] = await entry.invoke(row(40, 4));
    const [{ payload: e }] = await explanationsIn(running, reply.traceId, "shap");
    expect(e.coalitions).toBe(18);
    expect(Array.from(e.attributions.data).reduce((s, v) => s + v, 0)).toBeCloseTo(e.score - e.baseValue!, 3);
  });

  it("on a nonlinear model, the enumerated values add up to f(x) − base (Shapley's efficiency), and sampling converges to them", async () => {
    const mlp = makeMlp({ sizes: [6, 8, 2], seed: 5, hidden: "tanh" });
    const background = [0, 1, 2].map((s) => Array.from(randomFloats(6, 400 + s, 2)));
    const { running, entry } = await deployed(mlp.bytes, [
      { id: "exact", type: "explain.kernel-shap", config: { model: "clf", background, target: 1 } },
      { id: "sampled", type: "explain.kernel-shap", config: { model: "clf", background, target: 1, exactMaxFeatures: 1, samples: 8192 } },
    ]);
    const [reply] = await entry.invoke(row(6, 8));
    const [{ payload: exact }] = await explanationsIn(running, reply.traceId, "exact");
    const [{ payload: sampled }] = await explanationsIn(running, reply.traceId, "sampled");
    expect(exact.exact).toBe(true);
    expect(sampled.exact).toBe(false);
    const values = Array.from(exact.attributions.data);
    // Not additive: the values differ from the linear formula's, yet sum to the prediction's gap.
    expect(values.reduce((s, v) => s + v, 0)).toBeCloseTo(exact.score - exact.baseValue!, 4);
    const spread = Math.max(...values.map(Math.abs));
    Array.from(sampled.attributions.data).forEach((v, i) => expect(Math.abs(v - values[i])).toBeLessThan(0.05 * spread));
  });

  it("without a fixed background, uses the inputs it saw before, and waits until it has backgroundSize of them", async () => {
    const model = linearModel(4, 2, 11);
    const { running, entry } = await deployed(model.bytes, [{ id: "shap", type: "explain.kernel-shap", config: { model: "clf", backgroundSize: 3, target: 0 } }]);
    const inputs = [0, 1, 2, 3].map((s) => row(4, 300 + s));
    const traces: string[] = [];
    for (const x of inputs) traces.push((await entry.invoke(x))[0].traceId);
    for (const t of traces.slice(0, 3)) expect(await explanationsIn(running, t, "shap")).toEqual([]);
    const [{ payload: e }] = await explanationsIn(running, traces[3], "shap");
    const expected = linearShap(model, 0, inputs[3].data as Float32Array, inputs.slice(0, 3).map((t) => t.data as Float32Array));
    Array.from(e.attributions.data).forEach((v, i) => expect(v).toBeCloseTo(expected[i], 4));
    expect(running.status().nodes.shap).toMatchObject({ explained: 1, background: "3/3" });
  });

  it("is added to a running pipeline by deploying it again with the explainer on an async edge", async () => {
    const model = linearModel(3, 2, 17);
    const { runtime, running: before, entry: firstEntry } = await deployed(model.bytes, []);
    const [plain] = await firstEntry.invoke(row(3, 401));
    expect(before.traces.messages(plain.traceId).map((m) => m.source.node).sort()).toEqual(["model", "request"]);
    const background = [[0, 0, 0], [1, -1, 0.5]];
    const running = await runtime.deploy(scoringPipeline("clf", [{ id: "shap", type: "explain.kernel-shap", config: { model: "clf", background, target: 1 } }]));
    const x = row(3, 402);
    const [reply] = await running.entrypoints.get("scorer")!.invoke(x);
    const [{ payload: e }] = await explanationsIn(running, reply.traceId, "shap");
    const expected = linearShap(model, 1, x.data as Float32Array, background);
    Array.from(e.attributions.data).forEach((v, i) => expect(v).toBeCloseTo(expected[i], 4));
  });

  it("dead-letters a message it cannot explain, with the reason, and keeps serving", async () => {
    const model = linearModel(4, 2, 13);
    const { running, entry } = await deployed(model.bytes, [{ id: "shap", type: "explain.kernel-shap", config: { model: "clf", background: [[0, 0, 0]] } }]);
    const [reply] = await entry.invoke(row(4, 1));
    await running.idle();
    expect(reply.source.model).toEqual({ name: "clf", version: 1 });
    expect(running.deadLetters.toArray().at(-1)!.reason).toContain("background row 0 has 3 features, the input 4");
    await entry.invoke({ dtype: "float32", shape: [2, 4], data: new Float32Array(8) });
    await running.idle();
    expect(running.deadLetters.toArray().at(-1)!.reason).toContain("explainers explain one row at a time: the input is a batch of 2 (shape [2,4])");
  });
});

describe("explain.occlusion", () => {
  // A 16×16 image model whose class 1 looks only at the 4×4 patch at rows 4–7, columns 8–11.
  const side = 16;
  const weights = new Float32Array(side * side * 2);
  for (let y = 4; y < 8; y++) for (let x = 8; x < 12; x++) weights[(y * side + x) * 2 + 1] = 1;
  const image = (): Tensor => ({ dtype: "float32", shape: [1, side * side], data: new Float32Array(side * side).fill(1) });

  it("highlights the only patch the model's target class depends on", async () => {
    const model = linearModel(side * side, 2, 17, weights);
    const { running, entry } = await deployed(model.bytes, [{ id: "occ", type: "explain.occlusion", config: { model: "clf", patch: 4, stride: 2, target: 1 } }]);
    const [reply] = await entry.invoke(image());
    const [{ payload: e }] = await explanationsIn(running, reply.traceId, "occ");
    expect(e).toMatchObject({ method: "occlusion", target: 1, patch: { size: 4, stride: 2, fill: 0 } });
    expect(e.attributions.shape).toEqual([side, side]);
    // Covering the whole patch removes its 16 units of score; that position is the top one.
    expect(e.topPatches![0]).toMatchObject({ y: 4, x: 8 });
    expect(e.topPatches![0].drop).toBeCloseTo(16, 4);
    const map = Array.from(e.attributions.data);
    const inside = (i: number) => Math.floor(i / side) >= 4 && Math.floor(i / side) < 8 && i % side >= 8 && i % side < 12;
    const minInside = Math.min(...map.filter((_, i) => inside(i)));
    const maxOutside = Math.max(...map.filter((_, i) => !inside(i)));
    expect(minInside).toBeGreaterThan(maxOutside);
    // Pixels no patch over the model's patch covered get nothing.
    expect(map[0]).toBe(0);
    expect(map[side * side - 1]).toBe(0);
  });

  it("explains one message in `every`, and its status counts them", async () => {
    const model = linearModel(side * side, 2, 17, weights);
    const { running, entry } = await deployed(model.bytes, [{ id: "occ", type: "explain.occlusion", config: { model: "clf", every: 2, target: 1 } }]);
    const traces: string[] = [];
    for (let i = 0; i < 3; i++) traces.push((await entry.invoke(image()))[0].traceId);
    const counts = await Promise.all(traces.map(async (t) => (await explanationsIn(running, t, "occ")).length));
    expect(counts).toEqual([1, 0, 1]);
    expect(running.status().nodes.occ).toMatchObject({ model: "clf@1", explained: 2 });
  });

  it("refuses an input it cannot see as an image, naming what to set", async () => {
    const model = linearModel(10, 2, 19);
    const { running, entry } = await deployed(model.bytes, [{ id: "occ", type: "explain.occlusion", config: { model: "clf" } }]);
    await entry.invoke(row(10, 1));
    await running.idle();
    expect(running.deadLetters.toArray().at(-1)!.reason).toContain("cannot see an image in a tensor of shape [1,10]: set height and width");
  });
});
