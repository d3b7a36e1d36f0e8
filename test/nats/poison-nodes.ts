/**
 * Node types for the delivery tests, registered beside the real library: one that fails on
 * chosen messages (always, or only on their first delivery), and one that kills its own
 * process on a chosen message, as a native crash or the OOM killer would.
 */
import { z } from "zod";
import { allNodes } from "../../nodes";
import { defineNode, type NodeDefinition } from "../../sdk/contract";
import { NodeTypes } from "../../runtime/node-types";
import { port } from "../../sdk/ports";

const failing = defineNode({
  type: "test.failing",
  category: "transform",
  title: "Fails on chosen messages",
  description: "Throws on the messages whose payload.i is listed: always, or on their first delivery only.",
  inputs: { in: port.any() },
  outputs: { out: port.any() },
  config: z.object({
    always: z.array(z.number()).default([]).describe("payload.i values it fails on every time"),
    once: z.array(z.number()).default([]).describe("payload.i values it fails on the first time only"),
  }),
  create: (_ctx, config) => {
    const seen = new Set<number>();
    return {
      async onMessage(_port, message, emit) {
        const i = (message.payload as { i: number }).i;
        if (config.always.includes(i)) throw new Error(`poison message ${i}`);
        if (config.once.includes(i) && !seen.has(i)) {
          seen.add(i);
          throw new Error(`transient failure on message ${i}`);
        }
        await emit("out", message.payload);
      },
    };
  },
});

const crashing = defineNode({
  type: "test.crashing",
  category: "transform",
  title: "Kills its process on a chosen message",
  description: "SIGKILLs its own process on the message whose payload.i is given, as a native crash would.",
  inputs: { in: port.any() },
  outputs: { out: port.any() },
  config: z.object({ on: z.number().describe("payload.i value that kills the process") }),
  create: (_ctx, config) => ({
    async onMessage(_port, message, emit) {
      if ((message.payload as { i: number }).i === config.on) process.kill(process.pid, "SIGKILL");
      await emit("out", message.payload);
    },
  }),
});

export const poisonNodeTypes = new NodeTypes([...allNodes, failing as NodeDefinition, crashing as NodeDefinition]);
