// slowtest.delay: passes each record on after `ms` milliseconds, so a test knows how many
// messages per second one replica handles (1000 / ms with concurrency 1), with the id of the
// process that handled it, so the test sees which replicas shared the work.
import { defineNode, port, z } from "evoflow/sdk";

const delay = defineNode({
  type: "slowtest.delay",
  category: "transform",
  title: "Delay",
  description: "Passes each record on after `ms` milliseconds, with `pid`: the process that handled it.",
  inputs: { in: port.record() },
  outputs: { out: port.record() },
  config: z.object({ ms: z.number().int().min(0).max(60_000).default(50).describe("Milliseconds per message") }),
  create: (_ctx, config) => ({
    async onMessage(_port, message, emit) {
      await new Promise((resolve) => setTimeout(resolve, config.ms));
      await emit("out", { ...message.payload, pid: process.pid });
    },
  }),
});

export default [delay];
