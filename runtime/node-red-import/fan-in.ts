/**
 * A Node-RED node fed by several branches of the request path (a switch's outputs meeting again)
 * handles whichever message comes. An Evoflow input takes one sync edge (validate refuses more
 * without a control.join, whose output wraps the payload), so such a node is copied once per
 * extra edge, with what follows it: the nodes imported are stateless, so each copy does exactly
 * what the one node did for the messages of its branch.
 */
export interface ImportedNode {
  id: string;
  type: string;
  position?: { x: number; y: number };
  [key: string]: unknown;
}
export interface ImportedEdge {
  from: string;
  to: string;
  mode: "sync" | "async";
}

/** More copies than this (a flow merging and branching many times over) is left to validate to report. */
const MAX_COPIES = 500;
const nodeOf = (endpoint: string) => endpoint.slice(0, endpoint.indexOf("."));

/** Splits every sync fan-in in place; the copies made of each node, by its id. */
export function splitSyncFanIn(nodes: ImportedNode[], edges: ImportedEdge[], newId: (base: string) => string): Map<string, string[]> {
  const copies = new Map<string, string[]>();
  for (let made = 0; made < MAX_COPIES; ) {
    const incoming = new Map<string, ImportedEdge[]>();
    for (const e of edges) if (e.mode === "sync") incoming.set(nodeOf(e.to), [...(incoming.get(nodeOf(e.to)) ?? []), e]);
    const merged = [...incoming].find(([, list]) => list.length > 1);
    if (!merged) break;
    const [id, [, ...extra]] = merged;
    const original = nodes.find((n) => n.id === id)!;
    const outgoing = edges.filter((e) => nodeOf(e.from) === id);
    extra.forEach((edge, i) => {
      const copy = newId(id);
      const { x, y } = original.position ?? { x: 0, y: 0 };
      nodes.push({ ...original, id: copy, ...(original.position ? { position: { x, y: y + 40 * (i + 1) } } : {}) });
      edge.to = `${copy}${edge.to.slice(id.length)}`;
      for (const e of outgoing) edges.push({ ...e, from: `${copy}${e.from.slice(id.length)}` });
      copies.set(id, [...(copies.get(id) ?? []), copy]);
      made++;
    });
  }
  return copies;
}
