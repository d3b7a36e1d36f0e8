import type { NodeDefinition } from "../../sdk";
import consume from "./consume";
import publish from "./publish";

export const amqpNodes = [consume, publish] as NodeDefinition[];
