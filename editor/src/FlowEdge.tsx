/** An edge: solid when sync, dashed when async; red with the reason when the validator objects; live rate when deployed. */
import { BaseEdge, EdgeLabelRenderer, getBezierPath, useReactFlow, type EdgeProps } from "@xyflow/react";
import { memo } from "react";
import { useCanvasInfo } from "./context";
import type { FlowEdge } from "./graph";

function FlowEdgeView(props: EdgeProps<FlowEdge>) {
  const { id, sourceX, sourceY, targetX, targetY, sourcePosition, targetPosition, data, selected, markerEnd } = props;
  const { problems, edgeStatus } = useCanvasInfo();
  const { setNodes, setEdges } = useReactFlow();
  // The label sits on the edge: clicking it selects the edge, as clicking the line does.
  const selectThis = () => {
    setNodes((ns) => ns.map((n) => (n.selected ? { ...n, selected: false } : n)));
    setEdges((es) => es.map((e) => (e.selected !== (e.id === id) ? { ...e, selected: e.id === id } : e)));
  };
  const [path, labelX, labelY] = getBezierPath({ sourceX, sourceY, targetX, targetY, sourcePosition, targetPosition });
  const mode = data?.mode ?? "sync";
  const edgeProblems = problems.edges.get(id);
  const live = edgeStatus.get(id);
  const stroke = edgeProblems ? "#e03131" : selected ? "#1971c2" : mode === "async" ? "#7048e8" : "#495057";
  // Short on the canvas (edges can be short); the full reasons are in the tooltip and the panels.
  const label = edgeProblems ? `⚠ ${edgeProblems.length > 1 ? `${edgeProblems.length} problems` : "problem"}` : live ? `${live.rate.toFixed(0)}/s${live.dropped ? ` · ${live.dropped} dropped` : ""}${mode === "async" && live.depth ? ` · queue ${live.depth}` : ""}` : undefined;
  return (
    <>
      <BaseEdge
        id={id}
        path={path}
        markerEnd={markerEnd}
        style={{ stroke, strokeWidth: selected ? 2.5 : 1.6, strokeDasharray: mode === "async" ? "6 4" : undefined }}
      />
      {label && (
        <EdgeLabelRenderer>
          <div
            className={`edge-label nodrag nopan ${edgeProblems ? "edge-label-problem" : ""}`}
            style={{ transform: `translate(-50%, -50%) translate(${labelX}px, ${labelY}px)` }}
            title={edgeProblems?.join("\n")}
            onClick={selectThis}
            data-testid={`edge-label-${id}`}
          >
            {label}
          </div>
        </EdgeLabelRenderer>
      )}
    </>
  );
}

export const FlowEdgeComponent = memo(FlowEdgeView);
