import { z } from "zod";
import { defineNode, port, type Emit, type Message } from "../../sdk";

export default defineNode({
  type: "control.batch",
  category: "control",
  title: "Batch",
  description: "Gathers messages into one message holding an array of their payloads, when `size` have arrived or `maxDelayMs` after the first. Async edges only: a batch answers no single caller.",
  inputs: { in: port.any() },
  outputs: { out: port.any() },
  acceptsSync: false,
  config: z.object({
    size: z.number().int().min(1).max(100_000).default(32).describe("Messages per batch (at most 100,000)"),
    maxDelayMs: z.number().int().min(0).max(2_147_483_647).default(100).describe("Longest a message waits for its batch to fill (at most 2,147,483,647: setTimeout's limit, about 24.8 days)"),
  }),
  create: (_ctx, config) => {
    let batch: Message[] = [];
    let timer: NodeJS.Timeout | undefined;
    let flushEmit: Emit | undefined;
    let batches = 0;
    const flush = async (emit: Emit) => {
      clearTimeout(timer);
      timer = undefined;
      if (batch.length === 0) return;
      const parents = batch;
      batch = [];
      batches++;
      await emit("out", parents.map((m) => m.payload), { parents });
    };
    return {
      start(emit) {
        flushEmit = emit;
      },
      async onMessage(_port, message, emit) {
        batch.push(message);
        if (batch.length >= config.size) return flush(emit);
        if (!timer) timer = setTimeout(() => void flush(flushEmit!).catch(() => undefined), config.maxDelayMs);
      },
      async stop() {
        if (flushEmit) await flush(flushEmit);
      },
      status: () => ({ waiting: batch.length, batches }),
    };
  },
});
