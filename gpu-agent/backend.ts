/**
 * What the model host needs from an execution backend: load a model file into
 * something that runs, and unload it. Implementations: `onnxruntime` (in-process
 * sessions), `triton` (a Triton server over HTTP v2), `python` (sklearn and Python
 * class models in Python workers), and `ByFormat`, which gives each format its backend.
 */
import type { ModelFormat } from "../sdk/registry";
import type { Tensor } from "../sdk/ports";
import type { TensorSpec } from "./tensors";

export interface LoadRequest {
  /** Unique per model version within the host (`name@version`). */
  key: string;
  name: string;
  version: number;
  format: ModelFormat;
  /** The artifact in the host's local artifact cache. */
  artifactPath: string;
  inputs: TensorSpec[];
  outputs: TensorSpec[];
  /** The host has more models assigned than its budget holds, so it swaps: loads are frequent. */
  overcommitted: boolean;
}

export interface LoadedModel {
  /** Runs one request; `outputs` limits which outputs are computed (all when absent). */
  run(inputs: Record<string, Tensor>, outputs?: string[]): Promise<Record<string, Tensor>>;
  unload(): Promise<void>;
  /**
   * What the model takes now, measured, where the backend can tell (a Python worker's RSS):
   * the host accounts that instead of its estimate.
   */
  memoryBytes?(): number | undefined;
}

/** What a backend reads of a model whose file does not declare its tensors (not ONNX). */
export interface Inspection {
  inputs: TensorSpec[];
  outputs: TensorSpec[];
  /** Memory the model took once loaded, bytes (the inspecting worker's RSS). */
  memoryBytes?: number;
}

export interface Backend {
  /** "onnxruntime", "triton", "python", or the kinds of a ByFormat joined by "+". */
  readonly kind: string;
  /** The formats it loads; ["onnx"] when absent. */
  readonly formats?: readonly ModelFormat[];
  /** Where models run: "cpu", "cuda", or the Triton server's URL. */
  readonly device: string;
  /**
   * Called when a model is assigned (`bytes` is its artifact, to be cached at
   * `artifactPath`), before any load: a backend may lay it out beside that path for fast
   * loads. True if its loads need only that layout: the host then keeps no copy of the
   * whole artifact, which for a large model would be on disk twice.
   */
  prepare?(artifactPath: string, bytes: Uint8Array): Promise<boolean>;
  /** Reads the signature (and loaded size) of a model whose file declares none: at assignment, unless the registry record gives it. */
  inspect?(format: ModelFormat, artifactPath: string): Promise<Inspection>;
  load(request: LoadRequest): Promise<LoadedModel>;
  close(): Promise<void>;
}
