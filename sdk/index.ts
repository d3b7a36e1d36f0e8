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
  type NodeInstance,
} from "./contract";
export { configPath, type PathKind, type PathMeta, type ResolvePathOptions } from "./config-path";
export type { Message, MessageSource } from "./envelope";
export { NodeError } from "./errors";
export { DTYPES, isTensor, port, tensor, type DType, type PortType, type Ports, type Tensor } from "./ports";
export { defineService, type ServiceKey } from "./services";
export { edgeId } from "./pipeline";
export type * from "./api-types";

export const sdkVersion = "1.0.0";
