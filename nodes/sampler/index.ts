import type { NodeDefinition } from "../../sdk";
import { samplerNodeList } from "./nodes";

export const samplerNodes: NodeDefinition[] = [...samplerNodeList];
