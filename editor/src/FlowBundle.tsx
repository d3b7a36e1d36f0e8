/**
 * An edge bundle on the compact canvas (core/edge-bundles.ts): one line per pair of nodes, from
 * the middle of one node's side to the other's (compact nodes show no ports), with the number of
 * edges it stands for; where many lines meet at a node they join a short trunk there that
 * carries the count once. Drawn by the bundle's first edge; its other edges draw nothing, so the
 * document's edges stay exactly what they are.
 */
import { BaseEdge, EdgeLabelRenderer, useInternalNode, useStoreApi } from "@xyflow/react";
import { useCanvasInfo } from "./context";
import { bundleCurve, edgeFigures, type Box, type Bundle, type Trunk } from "./core/edge-bundles";
import { EdgeLabel } from "./EdgeLabel";

/** Length of a trunk, in canvas units. */
const TRUNK = 36;

function TrunkLine(p: { testId: string; x1: number; x2: number; y: number; trunk: Trunk }) {
  return (
    <>
      <path d={`M ${p.x1},${p.y} L ${p.x2},${p.y}`} fill="none" stroke="#868e96" strokeWidth={4} strokeLinecap="round" />
      <EdgeLabelRenderer>
        <div
          className="edge-label trunk-count nodrag nopan"
          style={{ transform: `translate(-50%, -100%) translate(${(p.x1 + p.x2) / 2}px, ${p.y - 3}px)` }}
          data-testid={p.testId}
          title={`${p.trunk.count} edges meet here`}
        >
          {p.trunk.count}
        </div>
      </EdgeLabelRenderer>
    </>
  );
}

/** Where a node's side is, its middle (undefined until React Flow has measured it). */
function useSide(nodeId: string, side: "in" | "out"): { x: number; y: number } | undefined {
  const node = useInternalNode(nodeId);
  const width = node?.measured.width;
  const height = node?.measured.height;
  if (!node || width === undefined || height === undefined) return undefined;
  const { x, y } = node.internals.positionAbsolute;
  return { x: side === "out" ? x + width : x, y: y + height / 2 };
}

export function BundleLine({ bundle, selected, onSelect }: { bundle: Bundle; selected?: boolean; onSelect(): void }) {
  const { problems, edgeStatus } = useCanvasInfo();
  const from = useSide(bundle.source, "out");
  const to = useSide(bundle.target, "in");
  // Read, not subscribed: a bundle re-renders when its own nodes move, which is when its label may move.
  const store = useStoreApi();
  if (!from || !to) return null;
  const startX = bundle.sourceTrunk ? from.x + TRUNK : from.x;
  const endX = bundle.targetTrunk ? to.x - TRUNK : to.x;
  // Only nodes near the curve can cover its label (the curve bends at most 40 units past its ends).
  const [left, right] = [Math.min(startX, endX) - 40, Math.max(startX, endX) + 40];
  const [top, bottom] = [Math.min(from.y, to.y), Math.max(from.y, to.y)];
  const boxes: Box[] = [];
  for (const n of store.getState().nodeLookup.values()) {
    const { x, y } = n.internals.positionAbsolute;
    const [width, height] = [n.measured.width ?? 0, n.measured.height ?? 0];
    if (x < right && x + width > left && y <= bottom && y + height >= top) boxes.push({ x, y, width, height });
  }
  const { d: path, label } = bundleCurve({ x: startX, y: from.y }, { x: endX, y: to.y }, boxes);
  const memberProblems = bundle.members.flatMap((m) => problems.edges.get(m) ?? []);
  const figures = edgeFigures(bundle.members.map((m) => edgeStatus.get(m)));
  const stroke = memberProblems.length ? "#e03131" : selected ? "#1971c2" : bundle.mode === "sync" ? "#495057" : "#7048e8";
  const single = bundle.members.length === 1;
  const ends = `${bundle.source}-${bundle.target}`;
  return (
    <>
      <BaseEdge
        path={path}
        style={{ stroke, strokeWidth: (selected ? 2.5 : 1.6) + Math.min(3, (bundle.members.length - 1) * 0.8), strokeDasharray: bundle.mode === "async" ? "6 4" : undefined }}
      />
      {bundle.sourceTrunk?.lead && <TrunkLine testId={`trunk-count-${bundle.source}-out`} x1={from.x} x2={startX} y={from.y} trunk={bundle.sourceTrunk} />}
      {bundle.targetTrunk?.lead && <TrunkLine testId={`trunk-count-${bundle.target}-in`} x1={endX} x2={to.x} y={to.y} trunk={bundle.targetTrunk} />}
      {(!single || memberProblems.length > 0 || figures) && (
        <EdgeLabelRenderer>
          <EdgeLabel
            id={single ? bundle.members[0] : `bundle-${ends}`}
            countId={`bundle-count-${ends}`}
            x={label.x}
            y={label.y}
            count={single ? undefined : bundle.members.length}
            problems={memberProblems.length ? memberProblems : undefined}
            figures={figures}
            title={bundle.members.join("\n")}
            onClick={single ? onSelect : undefined}
          />
        </EdgeLabelRenderer>
      )}
    </>
  );
}
