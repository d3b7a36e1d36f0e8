/**
 * The model registry: models by name, each with numbered versions. A version holds the ONNX
 * artifact, the signature read from it, a status, metrics, lineage, profile, validation
 * report and labels. Backends (file system here; NATS KV + Object Store; MongoDB) implement
 * `ModelRegistry` and must pass `test/registry/conformance.ts`. In the SDK: nodes reach the
 * registry as the `registry` service, typed by `ModelRegistry`.
 */

/** ONNX element types under Evoflow's names (onnx/dtypes.ts maps each to its ONNX code). */
export type OnnxDType =
  | "float32" | "float64" | "float16" | "bfloat16"
  | "int8" | "int16" | "int32" | "int64"
  | "uint8" | "uint16" | "uint32" | "uint64"
  | "bool" | "string" | "complex64" | "complex128";

/** A model's inputs and outputs as its ONNX file declares them (onnx/signature.ts reads them). */
export interface TensorSignature {
  name: string;
  /** "tensor" for ordinary tensors; other ONNX value kinds are described but carry no dtype/shape of their own. */
  kind: "tensor" | "sparse_tensor" | "sequence" | "map" | "optional";
  dtype?: OnnxDType;
  /**
   * Sizes, with -1 for a dimension fixed only at run time (a named one such as "batch" or an
   * unknown one). Absent when the model does not give even the rank (allowed by ONNX, seen on outputs).
   */
  shape?: number[];
  /** The symbolic name of each dynamic dimension (e.g. "batch"), null where the size is fixed or unnamed. */
  dimNames?: (string | null)[];
}

export interface ModelSignature {
  inputs: TensorSignature[];
  outputs: TensorSignature[];
  irVersion: number;
  opsets: { domain: string; version: number }[];
  producer?: string;
  graphName?: string;
  metadata: Record<string, string>;
}
import type { ArtifactInfo, BatchProfile, Lineage, ModelFormat, ModelProfile, ModelStatus as ApiModelStatus, StatusChange, TrainingDataRef } from "./api-types";

// The shapes the HTTP API answers with are declared in sdk/api-types.ts.
export type { ArtifactInfo, BatchProfile, Lineage, ModelFormat, ModelProfile, StatusChange, TrainingDataRef };

export const MODEL_FORMATS = ["onnx", "sklearn", "python", "online-json"] as const satisfies readonly ModelFormat[];
/** Formats whose loading runs the artifact's code (a pickle names what to call; model.py is code). */
export const EXEC_FORMATS: readonly ModelFormat[] = ["sklearn", "python"];

/**
 * `candidate`: registered, not serving. `champion`: the one version serving `name@champion`
 * (at most one per name). `rejected`: failed a gate, kept with the reasons. `retired`: a
 * former champion, replaced by a newer one.
 */
export const MODEL_STATUSES = ["candidate", "champion", "rejected", "retired"] as const satisfies readonly ApiModelStatus[];
export type ModelStatus = (typeof MODEL_STATUSES)[number];

export interface ValidationReport {
  passed: boolean;
  /** Why it failed (empty when passed). */
  reasons: string[];
  /** Check-by-check figures (accuracy per class, regression against the champion, latency…). */
  checks?: Record<string, unknown>;
  createdAt?: string;
}

export interface ModelVersion {
  name: string;
  /** 1, 2, 3… per name; never reused, even after a delete. */
  version: number;
  status: ModelStatus;
  artifact: ArtifactInfo;
  signature: ModelSignature;
  metrics: Record<string, number>;
  lineage: Lineage;
  profile?: ModelProfile;
  validation?: ValidationReport;
  labels: Record<string, string>;
  /** Every status the version has had, oldest first. */
  history: StatusChange[];
  createdAt: string;
  updatedAt: string;
}

export interface ModelSummary {
  name: string;
  versions: number;
  latest: number;
  champion?: number;
  updatedAt: string;
}

export interface RegisterInput {
  name: string;
  /** The bytes of an `.onnx` file, a joblib/pickle file (`sklearn`), or a tar archive of a model folder (`python`). */
  artifact: Uint8Array;
  /** Default "onnx". */
  format?: ModelFormat;
  /**
   * Inputs and outputs of an `sklearn` or `python` model, when the caller knows them; else the agent
   * reads them from the model at assignment (an sklearn model's n_features_in_ and classes_, a
   * Python class's `inputs`/`outputs`). An ONNX model's are always read from its file.
   */
  signature?: { inputs: TensorSignature[]; outputs: TensorSignature[] };
  /**
   * The caller holds the `exec` capability and accepts that loading this artifact runs its code:
   * required for the `sklearn` and `python` formats, refused for them without it.
   */
  allowExec?: boolean;
  labels?: Record<string, string>;
  metrics?: Record<string, number>;
  lineage?: Lineage;
}

/** What `watch` reports. `champion` is what a serving node hot-swaps on. */
export type RegistryEvent =
  | { type: "registered"; name: string; version: number }
  | { type: "status"; name: string; version: number; status: ModelStatus; previous: ModelStatus; reason?: string }
  | { type: "champion"; name: string; version: number; previous?: number }
  | { type: "deleted"; name: string; version: number };

/** A version as written in references: a number, the current champion, or the newest one. */
export type VersionRef = number | "champion" | "latest";

export interface ModelRegistry {
  /** Checks the artifact is an ONNX model (nothing is stored otherwise), then stores it as the next version, status `candidate`. */
  register(input: RegisterInput): Promise<ModelVersion>;
  list(): Promise<ModelSummary[]>;
  /** All versions of a model, oldest first; empty when there is no such model. */
  versions(name: string): Promise<ModelVersion[]>;
  /** A version, or undefined when there is none (no such model, version, or no champion). */
  get(name: string, ref?: VersionRef): Promise<ModelVersion | undefined>;
  /** The artifact's bytes. */
  readArtifact(name: string, version: number): Promise<Uint8Array>;
  /** Makes the version the champion; the previous champion becomes `retired`. */
  promote(name: string, version: number, reason?: string): Promise<ModelVersion>;
  /** Sets a status; `champion` is the same as `promote`. Demoting the champion leaves the model without one. */
  setStatus(name: string, version: number, status: ModelStatus, reason?: string): Promise<ModelVersion>;
  /** Removes a version and its artifact. The champion is only deleted with `force`. */
  delete(name: string, version: number, options?: { force?: boolean }): Promise<void>;
  /** Merges into the version's metrics. */
  putMetrics(name: string, version: number, metrics: Record<string, number>): Promise<ModelVersion>;
  putProfile(name: string, version: number, profile: ModelProfile): Promise<ModelVersion>;
  putValidation(name: string, version: number, report: ValidationReport): Promise<ModelVersion>;
  /** Merges labels; a null value removes that label. */
  setLabels(name: string, version: number, labels: Record<string, string | null>): Promise<ModelVersion>;
  /**
   * Calls `listener` on every change to the model `name` ("*" for every model); returns the
   * unsubscribe function. A promotion made through this client is reported as the `status`
   * events (old champion retired, new one champion) followed by one `champion` event; a
   * champion change made by another client of the same storage arrives as a `champion` event
   * alone. Champion events never go back to an older promotion.
   */
  watch(name: string, listener: (event: RegistryEvent) => void): () => void;
  close(): Promise<void>;
}

export type RegistryErrorCode = "not_found" | "invalid" | "conflict";

/** A failed registry operation; `code` lets an HTTP layer answer 404 / 400 / 409. */
export class RegistryError extends Error {
  constructor(
    readonly code: RegistryErrorCode,
    message: string,
  ) {
    super(message);
    this.name = "RegistryError";
  }
}

/** Model names are safe as folder names, NATS subjects/KV keys and in `name@version` references. */
export const MODEL_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export function checkModelName(name: string): void {
  if (typeof name !== "string" || !MODEL_NAME.test(name) || name.includes("..")) {
    throw new RegistryError("invalid", `invalid model name "${name}": use letters, digits, ".", "_" and "-" (at most 128, starting with a letter or digit)`);
  }
}

/** Parses `name`, `name@3`, `name@champion` or `name@latest` (a bare name means `defaultRef`). */
export function parseModelRef(text: string, defaultRef: VersionRef = "latest"): { name: string; ref: VersionRef } {
  const at = text.lastIndexOf("@");
  const name = at < 0 ? text : text.slice(0, at);
  checkModelName(name);
  if (at < 0) return { name, ref: defaultRef };
  const ref = text.slice(at + 1);
  if (ref === "champion" || ref === "latest") return { name, ref };
  if (/^[1-9][0-9]*$/.test(ref)) return { name, ref: Number(ref) };
  throw new RegistryError("invalid", `invalid version "${ref}" in "${text}": use a number, "champion" or "latest"`);
}
