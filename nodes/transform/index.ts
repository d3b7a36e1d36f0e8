import type { NodeDefinition } from "../../sdk";
import fn from "./function";
import jsonata from "./jsonata";
import set from "./set";

export const transformNodes: NodeDefinition[] = [fn, jsonata, set];
