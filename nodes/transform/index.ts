import type { NodeDefinition } from "../../sdk";
import fn from "./function";
import jsonata from "./jsonata";
import set from "./set";
import tensor from "./tensor";

export const transformNodes: NodeDefinition[] = [fn, jsonata, set, tensor];
