import type { NodeDefinition } from "../sdk";
import { amqpNodes } from "./amqp";
import { controlNodes } from "./control";
import { driftNodes } from "./drift";
import { ioNodes } from "./io";
import { modelNodes } from "./model";
import { mqttNodes } from "./mqtt";
import { postgresNodes } from "./postgres";
import { pythonNodes } from "./python";
import { redisNodes } from "./redis";
import { natsNodes } from "./nats";
import { samplerNodes } from "./sampler";
import { trainerNodes } from "./trainer";
import { transformNodes } from "./transform";
import { validatorNodes } from "./validator";

export const allNodes: NodeDefinition[] = [
  ...ioNodes,
  ...transformNodes,
  ...pythonNodes,
  ...modelNodes,
  ...driftNodes,
  ...samplerNodes,
  ...trainerNodes,
  ...validatorNodes,
  ...controlNodes,
  ...mqttNodes,
  ...redisNodes,
  ...postgresNodes,
  ...natsNodes,
  ...amqpNodes,
];

// The module nodes/package.json lists: the package's node types.
export default allNodes;
