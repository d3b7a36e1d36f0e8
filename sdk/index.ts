/**
 * evoflow/sdk: what a node package imports, and nothing else of the runtime. Evoflow's own
 * nodes (nodes/) import it too. `z` is the runtime's own zod, so a package's config schemas
 * are the ones the runtime validates, describes (JSON Schema) and finds path fields in.
 *
 * `sdkVersion` is checked against the range a package declares in its package.json
 * (`"evoflow": { "sdk": "^1" }`, runtime/packages/sdk-range.ts): another major is refused.
 * A minor adds to this surface; only a major may change or remove what is here.
 */
export { z } from "zod";
export {
  CAPABILITIES,
  CATEGORIES,
  defineNode,
  type Capability,
  type Category,
  type Emit,
  type EmitOptions,
  type Entrypoint,
  type NodeContext,
  type NodeDefinition,
  type NodeExample,
  type NodeInstance,
  type NodeLoadContext,
  type NodeLook,
  type NodeTypesAtLoad,
} from "./contract";
export { configPath, type PathKind, type PathMeta, type ResolvePathOptions } from "./config-path";
export { configSecret, parseSecretRef, type SecretRef } from "./config-secret";
export { createMessage, type Message, type MessageSource, type TraceNode } from "./envelope";
export { NodeError } from "./errors";
export type { CommandHost, PipelineView, ProvideServices, RecordedMessage, RegisterCommand, RegisterRoutes, RouteHost } from "./extensions";
export { jsonReplacer, stringify } from "./json";
export type { MetricsService, NodeCounter } from "./metrics";
export type { ModelDescription, ModelService, TensorSpec } from "./models";
export { PythonError, type PythonPool, type PythonPoolOptions, type PythonPoolStatus, type PythonResult, type PythonSource, type PythonWorkers } from "./python";
export { DTYPES, isTensor, port, tensor, type DType, type PortType, type Ports, type Tensor } from "./ports";
export { seededRandom, stringHash } from "./random";
export { lazyObject, lazyRequire } from "./lazy-require";
export { numericTensorBytes, tensorFromBytes, type NumericDType } from "./tensor-bytes";
export {
  checkModelName,
  parseModelRef,
  RegistryError,
  type ModelRegistry,
  type ModelSignature,
  type ModelStatus,
  type ModelVersion,
  type VersionRef,
} from "./registry";
export { Ring } from "./ring";
export { defineService, type ServiceKey } from "./services";
export { edgeId, EXPLANATIONS_STREAM } from "./pipeline";
export type * from "./api-types";

// 1.1: categories are open strings, and a declaration may give `color`, `icon` and `example`
// (a package using its own category needs "sdk": "^1.1": a 1.0 runtime refuses it).
// 1.2: `configSecret` fields and `ctx.secret(reference)`.
// 1.3: `tensorFromBytes` and `numericTensorBytes` (raw little-endian tensor bytes); the `metrics`
// service's types (MetricsService): a node's own counters in /metrics; the runtime's Python
// workers (`ctx.service("python")`, PythonWorkers) and PythonError.
// 1.4: a package's routes see deployed pipelines and traces (RouteHost.pipeline, .trace) and write to a pipeline's stream (PipelineView.publish); the Explanation type.
// 1.5: a node module may default-export a function of the load (NodeTypesAtLoad) giving its definitions.
export const sdkVersion = "1.5.0";
