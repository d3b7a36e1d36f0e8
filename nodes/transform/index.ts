import type { NodeDefinition } from "../../sdk";
import jsonata from "./jsonata";
import set from "./set";
import tensor from "./tensor";

export const transformNodes: NodeDefinition[] = [jsonata, set, tensor];
