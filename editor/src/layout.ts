/**
 * Left-to-right auto-layout with dagre, as in React Flow's dagre example: dagre
 * places node centres, React Flow wants top-left corners.
 */
import dagre from "@dagrejs/dagre";
import { NODE_WIDTH, type FlowEdge, type FlowNode } from "./graph";

/** Height before React Flow has measured a node: header plus one row per port. */
export function estimatedHeight(node: FlowNode): number {
  const rows = Math.max(Object.keys(node.data.inputs).length, Object.keys(node.data.outputs).length, 1);
  return 44 + rows * 20;
}

export function layoutLeftToRight(nodes: FlowNode[], edges: FlowEdge[]): FlowNode[] {
  const g = new dagre.graphlib.Graph().setDefaultEdgeLabel(() => ({}));
  g.setGraph({ rankdir: "LR", nodesep: 30, ranksep: 70 });
  for (const n of nodes) g.setNode(n.id, { width: n.measured?.width ?? NODE_WIDTH, height: n.measured?.height ?? estimatedHeight(n) });
  for (const e of edges) if (g.hasNode(e.source) && g.hasNode(e.target)) g.setEdge(e.source, e.target);
  dagre.layout(g);
  return nodes.map((n) => {
    const { x, y, width, height } = g.node(n.id);
    return { ...n, position: { x: x - width / 2, y: y - height / 2 } };
  });
}
