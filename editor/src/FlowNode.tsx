/** A pipeline node on the canvas: one handle per port, coloured by port type, with its problems and live status. */
import { Handle, Position, useUpdateNodeInternals, type NodeProps } from "@xyflow/react";
import { memo, useEffect, useRef } from "react";
import { lockReason, type PortJson } from "./api";
import { useCanvasInfo } from "./context";
import { PORT_COLORS, type FlowNode } from "./graph";
import { NodeIcon, nodeColor } from "./node-look";

function PortRow({ name, type, side }: { name: string; type: PortJson; side: "in" | "out" }) {
  return (
    <div className={`port port-${side}`} title={`${name}: ${type.label}`}>
      <Handle
        type={side === "in" ? "target" : "source"}
        position={side === "in" ? Position.Left : Position.Right}
        id={name}
        className={`handle-${type.kind}`}
        style={{ background: PORT_COLORS[type.kind] }}
      />
      <span className="port-name">{name}</span>
      <span className="port-type">{type.label}</span>
    </div>
  );
}

function FlowNodeView({ id, data, selected }: NodeProps<FlowNode>) {
  const { types, problems, nodeStatus } = useCanvasInfo();
  const info = types.get(data.type);
  const nodeProblems = problems.nodes.get(id);
  const live = nodeStatus.get(id);
  const updateNodeInternals = useUpdateNodeInternals();
  const portKey = `${Object.keys(data.inputs).join(",")}|${Object.keys(data.outputs).join(",")}`;
  // Ports that depend on config change the handles React Flow has measured. Not on
  // mount: React Flow measures new nodes itself, and 500 extra updates slow a big load.
  const measuredPorts = useRef(portKey);
  useEffect(() => {
    if (measuredPorts.current === portKey) return;
    measuredPorts.current = portKey;
    updateNodeInternals(id);
  }, [id, portKey, updateNodeInternals]);

  const classes = ["flow-node", `cat-${info?.category ?? "unknown"}`];
  if (selected) classes.push("selected");
  if (nodeProblems) classes.push("has-problems");
  const locked = lockReason(info);
  if (locked) classes.push("locked");
  if (live) classes.push(live.errors > 0 ? "live-errors" : "live");
  return (
    <div className={classes.join(" ")} data-testid={`node-${id}`} style={{ borderLeftColor: nodeColor(info) }}>
      <div className="flow-node-header">
        <NodeIcon info={info} />
        <span className="flow-node-id">
          {locked && <span className="lock-mark" title={locked} data-testid={`lock-node-${id}`}>🔒 </span>}
          {id}
        </span>
        <span className="flow-node-type">
          {info?.icon && <span className="flow-node-icon">{info.icon} </span>}
          {info?.title ?? data.type}
        </span>
      </div>
      <div className="flow-node-ports">
        <div className="ports-in">
          {Object.entries(data.inputs).map(([name, t]) => (
            <PortRow key={name} name={name} type={t} side="in" />
          ))}
        </div>
        <div className="ports-out">
          {Object.entries(data.outputs).map(([name, t]) => (
            <PortRow key={name} name={name} type={t} side="out" />
          ))}
        </div>
      </div>
      {live && (
        <div className="flow-node-status" data-testid={`status-${id}`}>
          in {live.in} · out {live.out}
          {live.errors > 0 && <span className="errors"> · {live.errors} err</span>} · {live.rate.toFixed(0)}/s
        </div>
      )}
      {live && typeof live.extra.text === "string" && live.extra.text !== "" && <OwnStatus id={id} extra={live.extra} />}
      {nodeProblems && (
        <div className="flow-node-problems" title={nodeProblems.map((p) => p.message).join("\n")}>
          ⚠ {nodeProblems.length === 1 ? nodeProblems[0].message : `${nodeProblems.length} problems`}
        </div>
      )}
      {/* What the node shows when zoomed out (core/canvas-detail.ts): shown by CSS, so zooming re-renders no node. */}
      <div className="flow-node-compact" title={`${id}: ${info?.title ?? data.type}${nodeProblems ? `\n⚠ ${nodeProblems.map((p) => p.message).join("\n⚠ ")}` : ""}`}>
        <span className="compact-id">
          {nodeProblems && "⚠ "}
          {id}
        </span>
        <span className="compact-type">
          {/* Deployed, the rate leads: the type is what an ellipsis may cut. */}
          {live && (
            <span className={live.errors > 0 ? "errors" : "ok"} data-testid={`compact-status-${id}`}>
              {live.rate.toFixed(0)}/s{live.errors > 0 && ` · ${live.errors} err`} ·{" "}
            </span>
          )}
          {info?.title ?? data.type}
        </span>
      </div>
    </div>
  );
}

export const FlowNodeComponent = memo(FlowNodeView);

/** Node-RED's status colours (its editor's), for a node whose status gives `fill`. */
const FILLS: Record<string, string> = { red: "#c00", green: "#5a8", yellow: "#F9DF31", blue: "#53A3F3", grey: "#d3d3d3" };

/**
 * A node's own status line under it, as Node-RED shows `node.status({ fill, shape, text })`: a dot
 * (a ring for shape "ring") and the text. Hosted Node-RED nodes (node-red.<type>) report one.
 */
function OwnStatus({ id, extra }: { id: string; extra: Record<string, unknown> }) {
  const fill = typeof extra.fill === "string" ? FILLS[extra.fill] : undefined;
  const ring = extra.shape === "ring";
  return (
    <div className="flow-node-own-status" data-testid={`own-status-${id}`}>
      {fill && <span className="status-dot" style={ring ? { border: `2px solid ${fill}` } : { background: fill }} />}
      {String(extra.text)}
    </div>
  );
}
