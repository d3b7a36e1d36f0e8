import { z } from "zod";
import { defineNode, port, type Message, type Ports } from "../../sdk";

interface Pending {
  since: number;
  parts: Map<string, Message>;
}

/**
 * Joins messages of the same trace arriving on several inputs. Sync edges may
 * feed it from parallel branches: the branch that completes the join carries the
 * reply, the others reply nothing.
 */
export default defineNode({
  type: "control.join",
  category: "control",
  title: "Join",
  description: "Joins messages of the same trace across inputs. inner: waits for every input, emits {input: payload}; any: the first to arrive wins, later ones for that trace are dropped. Partial joins expire after the window.",
  inputs: (config) => Object.fromEntries(config.inputs.map((name) => [name, port.any()])) as Ports,
  outputs: { out: port.record() },
  joinsSync: true,
  config: z.object({
    inputs: z.array(z.string().regex(/^[A-Za-z][A-Za-z0-9_-]*$/)).min(2).default(["a", "b"]).describe("Input port names"),
    mode: z.enum(["inner", "any"]).default("inner"),
    windowMs: z.number().int().min(1).max(2_147_483_647).default(5000).describe("How long a partial join (inner) or a winner (any) is remembered (at most 2,147,483,647: setTimeout's limit, about 24.8 days)"),
  }),
  create: (_ctx, config) => {
    const pending = new Map<string, Pending>();
    let expired = 0;
    let duplicates = 0;
    const sweep = setInterval(() => {
      const cutoff = Date.now() - config.windowMs;
      for (const [trace, p] of pending) {
        if (p.since >= cutoff) break; // insertion order is arrival order
        pending.delete(trace);
        if (config.mode === "inner") expired++;
      }
    }, Math.max(10, Math.min(config.windowMs, 1000)));
    sweep.unref();
    return {
      async onMessage(input, message, emit) {
        const entry = pending.get(message.traceId);
        if (config.mode === "any") {
          if (entry) {
            duplicates++;
            return;
          }
          pending.set(message.traceId, { since: Date.now(), parts: new Map() });
          await emit("out", { [input]: message.payload, from: input });
          return;
        }
        const p = entry ?? { since: Date.now(), parts: new Map<string, Message>() };
        if (!entry) pending.set(message.traceId, p);
        if (p.parts.has(input)) duplicates++;
        p.parts.set(input, message);
        if (p.parts.size < config.inputs.length) return;
        pending.delete(message.traceId);
        const parts = config.inputs.map((name) => p.parts.get(name)!);
        await emit("out", Object.fromEntries(config.inputs.map((name, i) => [name, parts[i].payload])), { parents: parts });
      },
      stop: () => clearInterval(sweep),
      status: () => ({ pending: pending.size, expired, duplicates }),
    };
  },
});
