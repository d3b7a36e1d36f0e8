/**
 * The `models` service a runtime gives its nodes: run `name@version` wherever it is hosted
 * (gpu-agent/: the in-process agent, or agents over NATS). Types only; a node gets the
 * service with `ctx.service(key)`.
 */
import type { DType, Tensor } from "./ports";
import type { ModelFormat, VersionRef } from "./registry";

/** One input or output of a hosted model. */
export interface TensorSpec {
  name: string;
  dtype: DType;
  /** -1 for a dimension fixed only at run time. */
  shape: number[];
}

export interface ModelDescription {
  name: string;
  version: number;
  inputs: TensorSpec[];
  outputs: TensorSpec[];
  /** What the artifact is; "onnx" when absent. */
  format?: ModelFormat;
  /** Whether it can answer now without a load (resident somewhere). */
  resident: boolean;
}

export interface ModelService {
  /** The version a reference means now; ModelNotFoundError when there is none. */
  resolve(name: string, ref: VersionRef): Promise<number>;
  describe(name: string, version: number): Promise<ModelDescription>;
  infer(name: string, version: number, inputs: Record<string, Tensor>, outputs?: string[]): Promise<Record<string, Tensor>>;
  /** Calls `listener` with the new champion version of `name` (undefined when the model has none any more). */
  watchChampion(name: string, listener: (version: number | undefined) => void): () => void;
  /** A version no longer served by a pipeline after a hot swap: free it once idle. */
  retire(name: string, version: number): void;
}
