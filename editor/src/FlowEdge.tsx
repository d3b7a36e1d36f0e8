/** An edge: solid when sync, dashed when async; red with the reason when the validator objects; live rate and queue depth when deployed. */
import { BaseEdge, EdgeLabelRenderer, getBezierPath, type EdgeProps } from "@xyflow/react";
import { memo } from "react";
import { useCanvasInfo } from "./context";
import { BundleLine } from "./FlowBundle";
import { edgeFigures } from "./core/edge-bundles";
import { EdgeLabel, useSelectEdge } from "./EdgeLabel";
import type { FlowEdge } from "./graph";

function FlowEdgeView(props: EdgeProps<FlowEdge>) {
  const { id, sourceX, sourceY, targetX, targetY, sourcePosition, targetPosition, data, selected, markerEnd } = props;
  const { problems, edgeStatus, bundles } = useCanvasInfo();
  const selectThis = useSelectEdge(id);
  const placed = bundles?.get(id);
  if (placed) return placed.lead ? <BundleLine bundle={placed.bundle} selected={selected} onSelect={selectThis} /> : null;
  const [path, labelX, labelY] = getBezierPath({ sourceX, sourceY, targetX, targetY, sourcePosition, targetPosition });
  const mode = data?.mode ?? "sync";
  const edgeProblems = problems.edges.get(id);
  const figures = edgeFigures([edgeStatus.get(id)]);
  const stroke = edgeProblems ? "#e03131" : selected ? "#1971c2" : mode === "async" ? "#7048e8" : "#495057";
  return (
    <>
      <BaseEdge
        id={id}
        path={path}
        markerEnd={markerEnd}
        style={{ stroke, strokeWidth: selected ? 2.5 : 1.6, strokeDasharray: mode === "async" ? "6 4" : undefined }}
      />
      {(edgeProblems || figures) && (
        <EdgeLabelRenderer>
          <EdgeLabel id={id} x={labelX} y={labelY} problems={edgeProblems} figures={figures} onClick={selectThis} />
        </EdgeLabelRenderer>
      )}
    </>
  );
}

export const FlowEdgeComponent = memo(FlowEdgeView);
