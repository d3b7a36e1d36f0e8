import type { NodeDefinition } from "../../sdk";
import insert from "./insert";
import read from "./read";

export const postgresNodes = [read, insert] as NodeDefinition[];
