/**
 * What the model host needs from an execution backend: load a model file into
 * something that runs, and unload it. Two implementations: `onnxruntime`
 * (in-process sessions) and `triton` (a Triton server over HTTP v2).
 */
import type { Tensor } from "../sdk/ports";
import type { TensorSpec } from "./tensors";

export interface LoadRequest {
  /** Unique per model version within the host (`name@version`). */
  key: string;
  name: string;
  version: number;
  /** The ONNX file in the host's local artifact cache. */
  artifactPath: string;
  inputs: TensorSpec[];
  outputs: TensorSpec[];
  /** The host has more models assigned than its budget holds, so it swaps: loads are frequent. */
  overcommitted: boolean;
}

/** Where a backend adds the CPU a run took on this machine (onnx/run-cpu.ts). */
export interface RunAccount {
  cpuSeconds: number;
}

export interface LoadedModel {
  /**
   * Runs one request; `outputs` limits which outputs are computed (all when absent). A backend
   * that runs the model here adds its CPU to `account`; Triton's runs are another server's.
   */
  run(inputs: Record<string, Tensor>, outputs?: string[], account?: RunAccount): Promise<Record<string, Tensor>>;
  unload(): Promise<void>;
}

export interface Backend {
  readonly kind: "onnxruntime" | "triton";
  /** Where models run: "cpu", "cuda", or the Triton server's URL. */
  readonly device: string;
  /**
   * Called when a model is assigned (`bytes` is its artifact, to be cached at
   * `artifactPath`), before any load: a backend may lay it out beside that path for fast
   * loads. True if its loads need only that layout: the host then keeps no copy of the
   * whole artifact, which for a large model would be on disk twice.
   */
  prepare?(artifactPath: string, bytes: Uint8Array): Promise<boolean>;
  load(request: LoadRequest): Promise<LoadedModel>;
  close(): Promise<void>;
}
