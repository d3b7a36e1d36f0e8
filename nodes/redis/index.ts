import type { NodeDefinition } from "../../sdk";
import add from "./stream-add";
import read from "./stream-read";

export const redisNodes = [read, add] as NodeDefinition[];
