/**
 * Copy and paste of nodes within the editor, framework-free (hooks/useClipboard.ts wires it):
 * the selected nodes and the edges between them; a paste gets fresh ids, is offset and selected,
 * and becomes the clipboard, so pasting again offsets again.
 */
import { freshNodeId, makeEdge, type FlowEdge, type FlowNode } from "../graph";

export interface Clip {
  nodes: FlowNode[];
  edges: FlowEdge[];
}

const PASTE_OFFSET = 40;

/** The selected nodes and the edges joining two of them; undefined when nothing is selected. */
export function copySelection(nodes: FlowNode[], edges: FlowEdge[]): Clip | undefined {
  const picked = nodes.filter((n) => n.selected);
  if (!picked.length) return undefined;
  const ids = new Set(picked.map((n) => n.id));
  return { nodes: picked, edges: edges.filter((e) => ids.has(e.source) && ids.has(e.target)) };
}

/** The clip as new nodes and edges: ids not in `taken`, edges renamed with them (their explicit ids dropped). */
export function pasteClip(clip: Clip, taken: Iterable<string>): Clip {
  const used = new Set(taken);
  const renamed = new Map<string, string>();
  for (const n of clip.nodes) {
    const id = freshNodeId(n.id, used);
    used.add(id);
    renamed.set(n.id, id);
  }
  const nodes = clip.nodes.map((n) => ({ ...n, id: renamed.get(n.id)!, position: { x: n.position.x + PASTE_OFFSET, y: n.position.y + PASTE_OFFSET }, selected: true }));
  const edges = clip.edges.map((e) => makeEdge(renamed.get(e.source)!, e.sourceHandle ?? "", renamed.get(e.target)!, e.targetHandle ?? "", { ...e.data, explicitId: undefined }));
  return { nodes, edges };
}

export const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;
