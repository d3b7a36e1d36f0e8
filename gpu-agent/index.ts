/**
 * The agent's front door: what the runtime uses of it (DESIGN.md "Layout": the runtime
 * imports nothing else of gpu-agent/). The model host and its backends for `evoflow agent`,
 * the `models` service an embedded runtime gives its nodes, and the Open Inference Protocol
 * routes the agent owns.
 */
export type { Backend } from "./backend";
export { ByFormat } from "./by-format";
export { CapacityError, ExecNotAllowedError, ModelHost, ModelNotFoundError } from "./host";
export { formatSize, parseSize } from "./sizes";
export { IdleProfiler } from "./idle-profiler";
export { createModelService } from "./in-process";
export type { NatsAgent } from "./nats";
/** Loaded on demand: a runtime that never joins agents over NATS does not load the NATS client. */
export const loadNatsAgent = async () => (await import("./nats")).NatsAgent;
export { OnnxRuntimeBackend } from "./onnxruntime";
export { PythonModelsBackend } from "./python-models";
/** Loaded on demand too: the agent's own HTTP server (fastify) is only for `evoflow agent`, not for every runtime that hosts models. */
export const loadAgentServer = async () => (await import("./server")).createAgentServer;
export { LocalModels, NoChampionError, type ModelDescription, type ModelService } from "./service";
export { TritonBackend } from "./triton";
export { HttpError, registerRuntimeV2Routes, registerV2Routes, runtimeV2Provider } from "./v2-routes";
export { modelsV2Provider } from "./v2-provider";
/** The protocol over gRPC, loaded when a server is started with --grpc-port: no gRPC library otherwise. */
export const loadV2GrpcServer = async () => (await import("./v2-grpc")).startV2GrpcServer;
export type { V2Provider } from "./v2-provider";
