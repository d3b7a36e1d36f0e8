import type { NodeDefinition } from "../../runtime/node-contract";
import { streamingDriftNodes } from "./streaming-nodes";
import { twoSampleDriftNodes } from "./two-sample-nodes";

export const driftNodes: NodeDefinition[] = [...streamingDriftNodes, ...twoSampleDriftNodes];
