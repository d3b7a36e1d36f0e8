import type { NodeDefinition } from "../../runtime/node-contract";
import batch from "./batch";
import join from "./join";
import switchNode from "./switch";

export const controlNodes: NodeDefinition[] = [join, switchNode, batch];
