/**
 * Synaptic Intelligence on a tiny softmax regression (2 features, 2 classes) trained by plain SGD on
 * one full batch: every step's gradient is computed here by hand (∂CE/∂W = xᵀ(p − y)/N, ∂CE/∂b = mean(p − y)),
 * so ω = Σ −g·Δθ = Σ η·g², Ω = ω/(Δ² + ξ) and the next task's surrogate gradient can be checked exactly.
 */
import { describe, expect, it } from "vitest";
import { fromOnnx, toOnnx, type DenseModel } from "../../nodes/continual-learning/dense";
import { train, trainConfigSchema } from "../../nodes/continual-learning/train";

const X = [[1, 0.5], [-0.5, 2], [0.3, -1]];
const Y = [0, 1, 1];
const data = { x: Float32Array.from(X.flat()), y: Int32Array.from(Y), count: 3, features: 2 };
const start = { W: [[0.2, -0.1], [0.4, 0.3]], b: [0.05, -0.05] };

function model(W: number[][], b: number[]): DenseModel {
  return { layers: [{ kernel: Float32Array.from(W.flat()), bias: Float32Array.from(b), inputs: 2, units: 2, activation: "softmax" }], inputName: "input", outputName: "output", batch: "batch" };
}

/** One full-batch gradient of the mean cross-entropy, by hand. */
function gradient(W: number[][], b: number[]): { gW: number[][]; gb: number[] } {
  const gW = [[0, 0], [0, 0]];
  const gb = [0, 0];
  X.forEach((x, n) => {
    const z = [0, 1].map((j) => x[0] * W[0][j] + x[1] * W[1][j] + b[j]);
    const m = Math.max(...z);
    const e = z.map((v) => Math.exp(v - m));
    const p = e.map((v) => v / (e[0] + e[1]));
    for (let j = 0; j < 2; j++) {
      const d = (p[j] - (Y[n] === j ? 1 : 0)) / X.length;
      gb[j] += d;
      for (let i = 0; i < 2; i++) gW[i][j] += x[i] * d;
    }
  });
  return { gW, gb };
}

describe("Synaptic Intelligence (Zenke et al. 2017)", () => {
  const lr = 0.5;
  const epochs = 3;
  const damping = 0.01;
  const strength = 0.7;
  const config = trainConfigSchema.parse({ mode: "stateful", optimizer: "sgd", learningRate: lr, epochs, batchSize: 3, si: { strength, damping } });

  it("accumulates ω = Σ −g·Δθ over the steps of a task and consolidates Ω = ω/(Δ² + ξ)", async () => {
    let W = start.W.map((r) => [...r]);
    let b = [...start.b];
    const omegaW = [[0, 0], [0, 0]];
    const omegaB = [0, 0];
    for (let step = 0; step < epochs; step++) {
      const { gW, gb } = gradient(W, b);
      // Plain SGD: Δθ = −η·g, so −g·Δθ = η·g².
      for (let i = 0; i < 2; i++) for (let j = 0; j < 2; j++) omegaW[i][j] += lr * gW[i][j] ** 2;
      for (let j = 0; j < 2; j++) omegaB[j] += lr * gb[j] ** 2;
      W = W.map((r, i) => r.map((w, j) => w - lr * gW[i][j]));
      b = b.map((v, j) => v - lr * gb[j]);
    }
    const result = await train({ config, data, base: toOnnx(model(start.W, start.b)), state: { seenClasses: [0, 1], experiences: 1 } });
    const trained = fromOnnx(result.onnx).layers[0];
    expect(Array.from(trained.kernel).map((v, k) => v - W[Math.floor(k / 2)][k % 2]).every((d) => Math.abs(d) < 1e-5)).toBe(true);

    const expectedOmegaW = W.flat().map((w, k) => omegaW[Math.floor(k / 2)][k % 2] / ((w - start.W.flat()[k]) ** 2 + damping));
    const expectedOmegaB = b.map((v, j) => omegaB[j] / ((v - start.b[j]) ** 2 + damping));
    const si = result.state.si!;
    expect(si.omega).toHaveLength(2);
    si.omega[0].forEach((v, k) => expect(v).toBeCloseTo(expectedOmegaW[k], 4));
    si.omega[1].forEach((v, k) => expect(v).toBeCloseTo(expectedOmegaB[k], 4));
    // Importance is positive and not uniform: the parameters that carried the loss matter more.
    expect(Math.min(...si.omega[0])).toBeGreaterThan(0);
    expect(new Set(Array.from(si.omega[0]).map((v) => v.toFixed(4))).size).toBeGreaterThan(1);
    expect(Array.from(si.anchor[0])).toEqual(Array.from(trained.kernel));
  });

  it("trains the next task with the surrogate c·Σ Ω(θ − θ*)², pulling important weights back to θ*", async () => {
    const anchorW = [[1, -1], [0.5, 0.5]];
    const omega = [Float32Array.from([4, 0, 2, 1]), Float32Array.from([0, 3])];
    // The champion sits away from θ*, so the first step's surrogate gradient 2c·Ω·(θ − θ*) is non-zero.
    const state = { seenClasses: [0, 1], experiences: 1, si: { omega, anchor: [Float32Array.from(anchorW.flat()), Float32Array.from([0, 0])] } };
    const one = trainConfigSchema.parse({ ...config, epochs: 1 });
    const result = await train({ config: one, data, base: toOnnx(model(start.W, start.b)), state });
    const { gW, gb } = gradient(start.W, start.b);
    const kernel = fromOnnx(result.onnx).layers[0].kernel;
    const bias = fromOnnx(result.onnx).layers[0].bias;
    start.W.flat().forEach((w, k) => {
      const task = gW[Math.floor(k / 2)][k % 2];
      const step = -lr * (task + 2 * strength * omega[0][k] * (w - anchorW.flat()[k]));
      expect(kernel[k]).toBeCloseTo(w + step, 5);
      // ω takes the task loss's gradient only (the surrogate's pull is not credited to the task), and Ω adds to the old one.
      expect(result.state.si!.omega[0][k]).toBeCloseTo(omega[0][k] + (-task * step) / (step * step + damping), 3);
    });
    start.b.forEach((v, j) => expect(bias[j]).toBeCloseTo(v - lr * (gb[j] + 2 * strength * omega[1][j] * v), 5));
  });
});
