import type { NodeDefinition } from "../../sdk";
import jsonata from "./jsonata";
import set from "./set";

export const transformNodes: NodeDefinition[] = [jsonata, set];
