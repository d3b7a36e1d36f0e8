/** For the crash tests: a node package, and the status figures of a pipeline `evoflow run` serves. */
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

/** How many messages node `node` of `pipeline` has received. */
export async function nodeIn(server: Server, pipeline: string, node: string): Promise<number> {
  const res = await fetch(`${server.url}/api/pipelines/${pipeline}`, { headers: { authorization: `Bearer ${server.token}` } });
  return ((await res.json()) as { status: { nodes: Record<string, { in: number }> } }).status.nodes[node].in;
}

/** Waits until node `node` has received `count` messages (10 s at most). */
export async function untilIn(server: Server, pipeline: string, node: string, count: number): Promise<number> {
  const deadline = Date.now() + 10_000;
  let seen = 0;
  while ((seen = await nodeIn(server, pipeline, node)) < count && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  return seen;
}

/** `<root>/crash.json`: pipeline "crash", source `type` with `config` → hold.until over a sync edge. */
export function holdPipeline(root: string, type: string, config: unknown): string {
  const file = path.join(root, "crash.json");
  const nodes = [{ id: "in", type, config }, { id: "hold", type: "hold.until" }];
  writeFileSync(file, JSON.stringify({ apiVersion: "evoflow/v1", name: "crash", nodes, edges: [{ from: "in.out", to: "hold.in", mode: "sync" }] }));
  return file;
}
