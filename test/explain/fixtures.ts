/**
 * What the explainer tests share: real linear ONNX models (whose exact Shapley values are
 * known: wᵢ(xᵢ − mean(bᵢ))), a registry and in-process agent, and the pipeline that serves one.
 */
import { buildMlp } from "../../onnx/build";
import { ModelHost } from "../../gpu-agent/host";
import { OnnxRuntimeBackend } from "../../gpu-agent/onnxruntime";
import { LocalModels } from "../../gpu-agent/service";
import { FsModelRegistry } from "../../runtime/registry/fs";
import { Runtime } from "../../runtime/runtime";
import { randomFloats } from "../fixtures/mlp";
import { tempDir } from "../agent/helpers";

export interface LinearModel {
  bytes: Uint8Array;
  /** [features, classes], row-major: score_c = Σᵢ xᵢ·W[i][c] + b_c. */
  weights: Float32Array;
  features: number;
  classes: number;
}

export function linearModel(features: number, classes: number, seed: number, weights = randomFloats(features * classes, seed)): LinearModel {
  const bias = randomFloats(classes, seed + 1);
  return { bytes: buildMlp({ inputSize: features, layers: [{ weights, bias, activation: "linear" }] }), weights, features, classes };
}

/** The exact Shapley values of a linear model's class `c` for x against a background. */
export function linearShap(model: LinearModel, c: number, x: ArrayLike<number>, background: ArrayLike<number>[]): number[] {
  return Array.from({ length: model.features }, (_, i) => {
    const mean = background.reduce((s, b) => s + b[i], 0) / background.length;
    return model.weights[i * model.classes + c] * (x[i] - mean);
  });
}

/** A registry in a temp folder, the in-process agent on onnxruntime (CPU), and a runtime using both. */
export async function modelRuntime(dataDir = tempDir("explain-data")) {
  const registry = new FsModelRegistry(tempDir("explain-registry"));
  const models = new LocalModels(
    new ModelHost({ backend: new OnnxRuntimeBackend({ executionProvider: "cpu" }), memoryBytes: 64 * 1024 * 1024, cacheDir: tempDir("explain-cache"), source: LocalModels.registrySource(registry) }),
    registry,
  );
  const runtime = new Runtime({ dataDir, services: { registry, models } });
  return {
    registry,
    models,
    runtime,
    close: async () => {
      await runtime.close();
      await models.close();
      await registry.close();
    },
  };
}

/** request → model (sync), and `explainers` hung off the request on async edges. */
export function scoringPipeline(model: string, explainers: { id: string; type: string; config: Record<string, unknown> }[] = []) {
  return {
    apiVersion: "evoflow/v1",
    name: "scorer",
    nodes: [{ id: "request", type: "io.http" }, { id: "model", type: "model.onnx", config: { model } }, ...explainers],
    edges: [{ from: "request.out", to: "model.in", mode: "sync" }, ...explainers.map((e) => ({ from: "request.out", to: `${e.id}.in`, mode: "async" }))],
  };
}
