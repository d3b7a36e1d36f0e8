import type { NodeDefinition } from "../../sdk";
import batch from "./batch";
import join from "./join";
import switchNode from "./switch";
import trigger from "./trigger";

export const controlNodes: NodeDefinition[] = [join, switchNode, batch, trigger];
