import type { NodeDefinition } from "../../sdk";
import { streamingDriftNodes } from "./streaming-nodes";
import { twoSampleDriftNodes } from "./two-sample-nodes";

export const driftNodes: NodeDefinition[] = [...streamingDriftNodes, ...twoSampleDriftNodes];
