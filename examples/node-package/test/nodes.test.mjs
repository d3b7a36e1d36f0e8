// The package's own unit tests, with evoflow/testing: each node type loaded with a config and run
// on the real engine, its ports fed and read back. `npm test` runs them with `node --test` once
// evoflow is installed beside the package (`npm install --save-dev evoflow`); the repository's
// test/packages/author-tests.test.ts does exactly that in a folder of its own.
import assert from "node:assert/strict";
import { afterEach, describe, it } from "node:test";
import { tensor } from "evoflow/sdk";
import { loadNode, NodeLoadError } from "evoflow/testing";
import { count, scale } from "../nodes.js";

let node;
afterEach(() => node?.stop());

describe("acme.scale", () => {
  it("multiplies the record field named in its config", async () => {
    node = await loadNode(scale, { config: { factor: 3, field: "price" } });
    await node.send("in", { price: 2.5, id: "a" });
    assert.deepEqual((await node.next("out")).payload, { price: 7.5, id: "a" });
  });

  it("scales a float tensor, which stays a typed array of its shape", async () => {
    node = await loadNode(scale);
    await node.send("in", tensor("float32", [3], Float32Array.of(1, 2, 3)));
    assert.deepEqual((await node.next("out")).payload, tensor("float32", [3], Float32Array.of(2, 4, 6)));
  });

  it("sends what it cannot scale to the dead letters with the reason, and serves on", async () => {
    node = await loadNode(scale);
    await node.send("in", { value: "ten" });
    await node.send("in", tensor("int32", [1], Int32Array.of(4)));
    await node.send("in", { value: 5 });
    assert.deepEqual(
      node.deadLetters().map((l) => l.reason),
      ['acme.scale: field "value" is not a number', "acme.scale scales float tensors, not int32"],
    );
    assert.deepEqual(node.payloads("out"), [{ value: 10 }]);
  });

  it("refuses a config the schema refuses, at its JSON path", async () => {
    await assert.rejects(loadNode(scale, { config: { factor: "2" } }), (err) => {
      assert.ok(err instanceof NodeLoadError);
      assert.deepEqual(err.problems.map((p) => p.path), ["$.config.factor"]);
      return true;
    });
  });
});

describe("acme.count", () => {
  it("counts the messages its instance has seen, shows the count in its status, and starts over after a restart", async () => {
    node = await loadNode(count);
    for (const id of ["a", "b", "c"]) await node.send("in", { id });
    assert.deepEqual(node.payloads("out"), [{ id: "a", count: 1 }, { id: "b", count: 2 }, { id: "c", count: 3 }]);
    assert.equal(node.status().count, 3);
    await node.restart();
    await node.send("in", { id: "d" });
    assert.deepEqual(node.payloads("out").at(-1), { id: "d", count: 1 });
  });
});
