/**
 * Test nodes with behaviour the tests control (a gate to hold a node mid-message,
 * a recorder), registered beside the real node library.
 */
import { z } from "zod";
import { allNodes } from "../../nodes";
import { defineNode, type NodeDefinition } from "../../sdk/contract";
import { NodeTypes } from "../../runtime/node-types";
import { port } from "../../sdk/ports";
import type { Message } from "../../runtime/envelope";

export interface Gate {
  promise: Promise<void>;
  open(): void;
}

export function gate(): Gate {
  let open!: () => void;
  const promise = new Promise<void>((r) => (open = r));
  return { promise, open };
}

/** Shared between a test and the nodes it deploys, by key. */
export const probes = new Map<string, { received: Message[]; gate?: Gate; fail?: (m: Message) => boolean }>();

export function probe(key: string, options: { gate?: Gate; fail?: (m: Message) => boolean } = {}) {
  const p = { received: [] as Message[], ...options };
  probes.set(key, p);
  return p;
}

const recorder = defineNode({
  type: "test.recorder",
  category: "io",
  title: "Recorder",
  description: "Records what it receives into probes[key]; waits on the probe's gate first; throws when the probe says so; passes the payload on.",
  inputs: { in: port.any() },
  outputs: { out: port.sameAs("in") },
  config: z.object({ key: z.string() }),
  create: (_ctx, config) => ({
    async onMessage(_port, message, emit) {
      const p = probes.get(config.key)!;
      await p.gate?.promise;
      if (p.fail?.(message)) throw new Error(`recorder ${config.key} refused message ${JSON.stringify(message.payload)}`);
      p.received.push(message);
      await emit("out", message.payload);
    },
  }),
});

const tensorSink = defineNode({
  type: "test.tensorIn",
  category: "io",
  title: "Tensor input",
  description: "Accepts float32 tensors of shape [-1, 4] only.",
  inputs: { in: port.tensor({ dtype: "float32", shape: [-1, 4] }) },
  outputs: { out: port.tensor({ dtype: "float32", shape: [-1, 4] }), events: port.event("drift") },
  config: z.object({}),
  create: () => ({ onMessage: (_p, m, emit) => emit("out", m.payload).then(() => undefined) }),
});

const eagerSource = defineNode({
  type: "test.eagerSource",
  category: "io",
  title: "Eager source",
  description: "Emits `count` messages from within its start(), as a source resuming a broker session does.",
  inputs: {},
  outputs: { out: port.any() },
  config: z.object({ count: z.number().int() }),
  create: (_ctx, config) => ({
    async start(emit) {
      for (let i = 0; i < config.count; i++) await emit("out", { i });
    },
  }),
});

const slowStart = defineNode({
  type: "test.slowStart",
  category: "io",
  title: "Slow start",
  description: "Takes 30 ms to start (as a client connecting); a message before then is refused. Records into probes[key].",
  inputs: { in: port.any() },
  outputs: {},
  config: z.object({ key: z.string() }),
  create: (_ctx, config) => {
    let started = false;
    return {
      async start() {
        await new Promise((r) => setTimeout(r, 30));
        started = true;
      },
      async onMessage(_port, message) {
        if (!started) throw new Error("a message before start() finished");
        probes.get(config.key)!.received.push(message);
      },
    };
  },
});

export const testNodes: NodeDefinition[] = [recorder, tensorSink, eagerSource, slowStart];
export const testNodeTypes = new NodeTypes([...allNodes, ...testNodes]);
