import type { NodeDefinition } from "../../sdk";
import { kernelShapNode, occlusionNode } from "./nodes";

export const explainNodes: NodeDefinition[] = [kernelShapNode, occlusionNode];
