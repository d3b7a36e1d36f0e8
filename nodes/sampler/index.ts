import type { NodeDefinition } from "../../runtime/node-contract";

export const samplerNodes: NodeDefinition[] = [];
