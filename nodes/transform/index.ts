import type { NodeDefinition } from "../../runtime/node-contract";
import jsonata from "./jsonata";
import set from "./set";

export const transformNodes: NodeDefinition[] = [jsonata, set];
