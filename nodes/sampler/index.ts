import type { NodeDefinition } from "../../runtime/node-contract";
import { samplerNodeList } from "./nodes";

export const samplerNodes: NodeDefinition[] = [...samplerNodeList];
