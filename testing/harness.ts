/**
 * The two nodes a test pipeline wires around the node under test: `testing.feed`, whose output
 * ports are the node's input ports (same types, so validate judges the wiring as it would in a
 * pipeline), and `testing.capture`, whose input ports are the node's output ports and which
 * records every message arriving there. Made per test node, as closures over its own records.
 */
import { z } from "zod";
import { defineNode, type Emit, type NodeDefinition } from "../sdk/contract";
import type { Message } from "../sdk/envelope";
import { port as portType, type Ports } from "../sdk/ports";

export const FEED_ID = "testing-feed";
export const CAPTURE_ID = "testing-capture";

/** What the capture node saw, per output port, and who waits for the next message there. */
export class Captured {
  private readonly messages = new Map<string, Message[]>();
  private readonly taken = new Map<string, number>();
  private readonly waiters = new Map<string, ((m: Message) => void)[]>();

  record(port: string, message: Message): void {
    const waiting = this.waiters.get(port)?.shift();
    const list = this.list(port);
    list.push(message);
    if (waiting) {
      this.taken.set(port, list.length);
      waiting(message);
    }
  }

  all(port: string): Message[] {
    return [...this.list(port)];
  }

  /** The first message on `port` not yet taken, or a promise of the next one to arrive; `cancel` withdraws the wait. */
  take(port: string): { message?: Message; wait?: Promise<Message>; cancel(): void } {
    const list = this.list(port);
    const taken = this.taken.get(port) ?? 0;
    if (taken < list.length) {
      this.taken.set(port, taken + 1);
      return { message: list[taken], cancel: () => {} };
    }
    let resolve!: (m: Message) => void;
    const wait = new Promise<Message>((r) => (resolve = r));
    const waiters = this.waiters.get(port) ?? [];
    this.waiters.set(port, waiters);
    waiters.push(resolve);
    const cancel = () => {
      const at = waiters.indexOf(resolve);
      if (at >= 0) waiters.splice(at, 1);
    };
    return { wait, cancel };
  }

  /** How many messages on `port` next() has handed out. */
  takenCount(port: string): number {
    return this.taken.get(port) ?? 0;
  }

  private list(port: string): Message[] {
    let list = this.messages.get(port);
    if (!list) this.messages.set(port, (list = []));
    return list;
  }
}

/** A source whose ports carry the node's input types; `emitter()` is its emit once the pipeline started. */
export function feedNode(inputs: Ports): { def: NodeDefinition; emitter(): Emit } {
  let emit: Emit | undefined;
  const def = defineNode({
    type: "testing.feed",
    category: "io",
    title: "Test input",
    description: "Sends what a test gives into the node under test.",
    inputs: {},
    outputs: inputs,
    config: z.object({}),
    create: () => ({ start: (e) => void (emit = e) }),
  });
  return {
    def,
    emitter: () => {
      if (!emit) throw new Error("the test node is not running (stopped, or it did not start)");
      return emit;
    },
  };
}

/** A sink with one input per output port of the node, recording into `captured`. */
export function captureNode(outputs: readonly string[], captured: Captured): NodeDefinition {
  return defineNode({
    type: "testing.capture",
    category: "io",
    title: "Test output",
    description: "Records what the node under test emits, per port.",
    inputs: Object.fromEntries(outputs.map((p) => [p, portType.any()])),
    outputs: {},
    config: z.object({}),
    create: () => ({ onMessage: (port, message) => captured.record(port, message) }),
  });
}
