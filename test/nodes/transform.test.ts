/**
 * transform.set, transform.jsonata and transform.tensor on their own with evoflow/testing, on the real engine:
 * what they emit, what they refuse (dead letters with reasons), and configs refused at their
 * JSON paths.
 */
import { afterEach, describe, expect, it } from "vitest";
import { loadNode, NodeLoadError, type TestNode } from "../../testing";
import { builtin } from "./builtin";

let node: TestNode | undefined;
afterEach(async () => {
  await node?.stop();
  node = undefined;
});

const problemsOf = (err: unknown) => (err as NodeLoadError).problems;

describe("transform.set", () => {
  it("sets fields at dotted paths, copying the objects along them and leaving the input as it was", async () => {
    node = await loadNode(builtin("transform.set"), { config: { set: { "meta.source": "camera", "meta.tags.hot": true, label: 3 } } });
    const input = { x: 1, meta: { tags: { cold: false }, seen: 2 } };
    await node.send("in", input);
    expect(node.payloads("out")).toEqual([{ x: 1, label: 3, meta: { seen: 2, source: "camera", tags: { cold: false, hot: true } } }]);
    expect(input).toEqual({ x: 1, meta: { tags: { cold: false }, seen: 2 } });
  });

  it("takes records only: anything else is dead-lettered at its input", async () => {
    node = await loadNode(builtin("transform.set"), { config: { set: { a: 1 } } });
    await node.send("in", "text");
    await node.send("in", {});
    expect(node.deadLetters().map((l) => [l.port, l.payload])).toEqual([["in", "text"]]);
    expect(node.deadLetters()[0].reason).toMatch(/^payload does not match input node\.in: /);
    expect(node.payloads("out")).toEqual([{ a: 1 }]);
  });

  it("refuses a path that is no dotted path, at its key", async () => {
    const refused = await loadNode(builtin("transform.set"), { config: { set: { "a..b": 1 } } }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(NodeLoadError);
    expect(problemsOf(refused)).toEqual([{ path: '$.config.set["a..b"]', message: "Invalid key in record" }]);
  });
});

describe("transform.jsonata", () => {
  it("maps each payload, sees its envelope as $message, and drops a message whose result is nothing", async () => {
    node = await loadNode(builtin("transform.jsonata"), { config: { expression: "n > 0 ? { 'double': n * 2, 'from': $message.source.node }" } });
    await node.send("in", { n: 21 });
    await node.send("in", { n: -1 });
    expect(node.payloads("out")).toEqual([{ double: 42, from: "testing-feed" }]);
    expect(node.deadLetters()).toEqual([]);
  });

  it("dead-letters a JSONata $error with its message (an error thrown as a plain object), and serves on", async () => {
    node = await loadNode(builtin("transform.jsonata"), { config: { expression: 'n > 3 ? $error("n is too large") : n' } });
    await node.send("in", { n: 9 });
    await node.send("in", { n: 2 });
    expect(node.deadLetters().map((l) => l.reason)).toEqual(["n is too large"]);
    expect(node.payloads("out")).toEqual([2]);
  });

  it("refuses an expression that does not compile, and limits out of bounds, at their JSON paths", async () => {
    const refused = await loadNode(builtin("transform.jsonata"), { config: { expression: "{ 'a': ", timeoutMs: 0 } }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(NodeLoadError);
    expect(problemsOf(refused).map((p) => p.path).sort()).toEqual(["$.config.expression", "$.config.timeoutMs"]);
  });
});

describe("transform.tensor", () => {
  it("makes a [1, n] tensor of the fields in the order given, nested ones by dotted path", async () => {
    node = await loadNode(builtin("transform.tensor"), { config: { fields: ["vibration", "env.temperature"] } });
    await node.send("in", { sensor: "s1", vibration: 0.25, env: { temperature: 61.5 } });
    expect(node.payloads("out")).toEqual([{ dtype: "float32", shape: [1, 2], data: new Float32Array([0.25, 61.5]) }]);
  });

  it("dead-letters a record whose field is missing or not a finite number, naming it", async () => {
    node = await loadNode(builtin("transform.tensor"), { config: { fields: ["a", "b"], dtype: "float64" } });
    await node.send("in", { a: 1 });
    await node.send("in", { a: 1, b: "2" });
    await node.send("in", { a: 1, b: 2 });
    expect(node.deadLetters().map((l) => l.reason)).toEqual([expect.stringMatching(/field b is missing, not a finite number/), expect.stringMatching(/field b is "2", not a finite number/)]);
    expect(node.payloads("out")).toEqual([{ dtype: "float64", shape: [1, 2], data: new Float64Array([1, 2]) }]);
  });
});
