/**
 * evoflow/testing: runs one node type for a test, on the real engine, as Node-RED's
 * node-red-node-test-helper does for its nodes. A node author imports this and `evoflow/sdk`:
 *
 *   const node = await loadNode(scale, { config: { factor: 3 } });
 *   await node.send("in", { value: 2 });
 *   (await node.next("out")).payload;   // { value: 6 }
 *   node.deadLetters();                  // [{ port, reason, payload, message }]
 *   await node.stop();
 *
 * No test runner is assumed: it works with node:test, vitest or any other. Unlike the rest of
 * sdk/, it sits on the runtime (engine, validation, transport), which it runs rather than imitates.
 */
export { loadNode, provide, NodeLoadError, TestNode, type LoadNodeOptions, type LogEntry, type Problem, type ProvidedService, type SeenDeadLetter } from "./test-node";
