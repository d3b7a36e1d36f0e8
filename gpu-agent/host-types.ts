/** The model host's public shapes, and the entry it keeps per model version (gpu-agent/host.ts). */
import type { CostModel } from "../sdk/cost";
import type { ModelFormat } from "../sdk/registry";
import type { Backend, LoadedModel } from "./backend";
import type { TensorSpec } from "./tensors";

/** An artifact with what the host needs to know of it beside its bytes (a registry record's format and given signature). */
export interface SourcedArtifact {
  bytes: Uint8Array;
  format: ModelFormat;
  signature?: { inputs: TensorSpec[]; outputs: TensorSpec[] };
}

/** Where the host fetches a model it is asked for but was not given (the registry, another agent…); bare bytes are an ONNX file. */
export type ArtifactSource = (name: string, version: number) => Promise<Uint8Array | SourcedArtifact | undefined>;

export interface ModelHostOptions {
  backend: Backend;
  /** Prices CPU-seconds per model version in /metrics (sdk/cost.ts); the defaults' model when absent. */
  cost?: CostModel;
  /** Budget for resident models, bytes. */
  memoryBytes: number;
  /** Local artifact cache folder. */
  cacheDir: string;
  source?: ArtifactSource;
  /** Longest a load waits for an in-flight model to become idle and free room. Default 30 s. */
  waitTimeoutMs?: number;
  memoryFactor?: number;
  memoryOverheadBytes?: number;
  /**
   * Backend loads running at once (default 1). A load is CPU work (parsing, graph
   * optimisation, weight packing); several at once take every core from the requests
   * to resident models, while one at a time leaves them the rest of the machine.
   */
  maxConcurrentLoads?: number;
  /** The window utilisation is read over (`BusyClock`), milliseconds. Default 5 s. */
  utilisationWindowMs?: number;
}

export interface AssignInput {
  name: string;
  version: number;
  /** The artifact's bytes, or a path to it. */
  artifact: Uint8Array | string;
  /** Default "onnx". */
  format?: ModelFormat;
  /** Inputs and outputs of a non-ONNX model, when known; else the backend reads them from the model (Backend.inspect). */
  signature?: { inputs: TensorSpec[]; outputs: TensorSpec[] };
  /** Declared memory need, bytes; estimated from the artifact when absent. */
  memoryBytes?: number;
}

export type ModelState = "cold" | "loading" | "resident" | "unloading";

export interface Entry {
  key: string;
  name: string;
  version: number;
  format: ModelFormat;
  artifactPath: string;
  artifactBytes: number;
  memoryBytes: number;
  memoryDeclared: boolean;
  inputs: TensorSpec[];
  outputs: TensorSpec[];
  state: ModelState;
  loaded?: LoadedModel;
  /** The load in progress, shared by every request that waits for it. */
  loading?: Promise<void>;
  unloading?: Promise<void>;
  inFlight: number;
  lastUsed: number;
  loads: number;
  evictions: number;
  requests: number;
  /** CPU seconds its runs took on this machine (onnx/run-cpu.ts); 0 on Triton. */
  cpuSeconds: number;
  lastLoadMs?: number;
  loadRssDeltaBytes?: number;
  /** Unload as soon as the last request in flight finishes (an old version after a hot swap). */
  retireWhenIdle: boolean;
}

export interface ModelInfo {
  name: string;
  version: number;
  format: ModelFormat;
  state: ModelState;
  memoryBytes: number;
  memoryDeclared: boolean;
  artifactBytes: number;
  inFlight: number;
  requests: number;
  /** CPU seconds its runs took on this machine, all versions' requests counted separately. */
  cpuSeconds: number;
  loads: number;
  evictions: number;
  lastUsed?: string;
  lastLoadMs?: number;
  loadRssDeltaBytes?: number;
  inputs: TensorSpec[];
  outputs: TensorSpec[];
}

export interface HostStatus {
  backend: string;
  device: string;
  memoryBytes: number;
  usedBytes: number;
  freeBytes: number;
  assigned: number;
  assignedBytes: number;
  resident: string[];
  /** Share of the last window with a request in flight, 0…1. */
  utilisation: number;
  loads: number;
  evictions: number;
  loadFailures: number;
  /** Most recent load times, milliseconds (newest last, at most 100). */
  recentLoadMs: number[];
  models: ModelInfo[];
}

export function modelInfo(e: Entry): ModelInfo {
  return {
    name: e.name, version: e.version, format: e.format, state: e.state, memoryBytes: e.memoryBytes, memoryDeclared: e.memoryDeclared, artifactBytes: e.artifactBytes,
    inFlight: e.inFlight, requests: e.requests, cpuSeconds: e.cpuSeconds, loads: e.loads, evictions: e.evictions,
    lastUsed: e.lastUsed ? new Date(performance.timeOrigin + e.lastUsed).toISOString() : undefined,
    lastLoadMs: e.lastLoadMs, loadRssDeltaBytes: e.loadRssDeltaBytes, inputs: e.inputs, outputs: e.outputs,
  };
}
