/**
 * control.switch, control.batch and control.join, each on its own with evoflow/testing: fed on
 * their input ports, read back on their output ports, on the real engine.
 */
import { afterEach, describe, expect, it } from "vitest";
import { loadNode, type TestNode } from "../../testing";
import { builtin } from "./builtin";

let node: TestNode | undefined;
afterEach(async () => {
  await node?.stop();
  node = undefined;
});

describe("control.switch", () => {
  it("routes by JSONata condition, with a fallback port", async () => {
    node = await loadNode(builtin("control.switch"), { config: { rules: [{ when: "n > 10", port: "big" }], otherwise: "small" } });
    for (const n of [5, 50, 7, 70]) await node.send("in", { n });
    expect(node.payloads("big")).toEqual([{ n: 50 }, { n: 70 }]);
    expect(node.payloads("small")).toEqual([{ n: 5 }, { n: 7 }]);
  });

  it("in mode all, sends a message to every rule it matches, in rule order", async () => {
    const rules = [{ when: "n > 10", port: "big" }, { when: "n % 2 = 0", port: "even" }];
    node = await loadNode(builtin("control.switch"), { config: { rules, mode: "all" } });
    for (const n of [3, 12, 13, 4]) await node.send("in", { n });
    expect(node.payloads("big")).toEqual([{ n: 12 }, { n: 13 }]);
    expect(node.payloads("even")).toEqual([{ n: 12 }, { n: 4 }]);
    expect(node.payloads("otherwise")).toEqual([{ n: 3 }]);
  });
});

describe("control.batch", () => {
  it("emits on size and on max delay, with every member as a parent", async () => {
    node = await loadNode(builtin("control.batch"), { config: { size: 3, maxDelayMs: 30 } });
    for (let i = 0; i < 4; i++) await node.send("in", i);
    expect(node.payloads("out")).toEqual([[0, 1, 2]]);
    expect((await node.next("out")).parents).toHaveLength(3);
    // The fourth waits for the delay, then goes alone.
    expect((await node.next("out")).payload).toEqual([3]);
    expect(node.status()).toMatchObject({ waiting: 0, batches: 2 });
  });
});

describe("control.join", () => {
  const trace = "4bf92f3577b34da6a3ce929d0e0e4736";

  it("any: the first input of a trace wins and the later one is dropped", async () => {
    node = await loadNode(builtin("control.join"), { config: { inputs: ["a", "b"], mode: "any" } });
    await node.send("a", "hello", { traceId: trace });
    await node.send("b", "hello", { traceId: trace });
    expect(node.payloads("out")).toEqual([{ a: "hello", from: "a" }]);
    expect(node.status()).toMatchObject({ duplicates: 1 });
  });

  it("inner: joins the inputs of one trace, whatever their order, naming both as parents", async () => {
    node = await loadNode(builtin("control.join"), { config: { inputs: ["plus", "times"] } });
    await node.send("times", 40, { traceId: trace });
    expect(node.emitted("out")).toEqual([]);
    await node.send("plus", 5, { traceId: trace });
    const joined = await node.next("out");
    expect(joined.payload).toEqual({ plus: 5, times: 40 });
    expect(joined.parents).toHaveLength(2);
  });

  it("inner: expires partial joins after the window", async () => {
    node = await loadNode(builtin("control.join"), { config: { inputs: ["a", "b"], windowMs: 20 } });
    await node.send("a", 1);
    await new Promise((r) => setTimeout(r, 80));
    expect(node.status()).toMatchObject({ pending: 0, expired: 1 });
    expect(node.emitted("out")).toHaveLength(0);
  });
});
