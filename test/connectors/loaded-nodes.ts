/** Nodes a test file loads with loadNode, all stopped after each test. */
import { afterEach } from "vitest";
import { loadNode, type TestNode } from "../../testing";

export function stoppedAfterEach(): typeof loadNode {
  const nodes: TestNode[] = [];
  afterEach(async () => {
    for (const n of nodes.splice(0)) await n.stop();
  });
  return async (...args) => {
    const node = await loadNode(...args);
    nodes.push(node);
    return node;
  };
}
