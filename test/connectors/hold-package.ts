/**
 * What the connectors' crash tests share: a node package whose `hold.until` never answers a
 * message whose payload has `hold: true` (so the process can be killed mid-hand-off), and a
 * node's input count read from a running `evoflow run`.
 */
import { writeFileSync } from "node:fs";
import path from "node:path";
import type { Server } from "../packages/cli";

/** A node package whose `hold.until` passes a message on unless its payload says `hold`, and then never answers. */
export function holdPackage(dir: string): string {
  writeFileSync(path.join(dir, "package.json"), JSON.stringify({ name: "evoflow-nodes-hold", version: "1.0.0", type: "module", evoflow: { sdk: "^1", nodes: ["./index.js"] } }));
  writeFileSync(
    path.join(dir, "index.js"),
    `import { defineNode, port, z } from "evoflow/sdk";
export default defineNode({ type: "hold.until", category: "transform", title: "Hold", description: "Never answers a message whose payload has hold: true.",
  inputs: { in: port.any() }, outputs: {}, config: z.object({}),
  create: () => ({ onMessage: (_p, m) => (m.payload.hold ? new Promise(() => {}) : undefined) }) });
`,
  );
  return dir;
}

export async function nodeIn(server: Server, pipeline: string, node: string): Promise<number> {
  const res = await fetch(`${server.url}/api/pipelines/${pipeline}`, { headers: { authorization: `Bearer ${server.token}` } });
  return ((await res.json()) as { status: { nodes: Record<string, { in: number }> } }).status.nodes[node].in;
}
