import type { NodeDefinition } from "../../sdk";
import { samplerNodeList } from "./nodes";
import { uncertaintyNode } from "./uncertainty-node";

export const samplerNodes: NodeDefinition[] = [...samplerNodeList, uncertaintyNode];
