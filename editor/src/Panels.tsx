/** The side panel: the selected node's properties, the selected edge (mode, queue, live tap), or the pipeline. */
import { useEffect, useState } from "react";
import { api, type JsonSchema, type NodeTypeInfo, type Problem } from "./api";
import type { FlowEdge, FlowNode, PipelineDoc, PlacedProblems } from "./graph";
import { edgeMode, type EdgeMode } from "./graph";
import { useCanvasInfo } from "./context";
import { NodeHelp } from "./NodeHelp";
import { SchemaForm } from "./SchemaForm";
import { TapPanel } from "./TapPanel";
import { TestsPanel } from "./TestsPanel";

const NAME = /^[A-Za-z][A-Za-z0-9_-]*$/;
// The queue form comes from the pipeline schema itself (the runtime's /api/schema), like node forms come from node declarations.
let queueSchemaAsked: Promise<JsonSchema | undefined> | undefined;
function useQueueSchema(): JsonSchema | undefined {
  const [schema, setSchema] = useState<JsonSchema>();
  useEffect(() => {
    queueSchemaAsked ??= api.schema().then((s) => s.properties?.edges?.items?.properties?.queue, () => (queueSchemaAsked = undefined));
    let live = true;
    void queueSchemaAsked.then((s) => live && setSchema(s));
    return () => {
      live = false;
    };
  }, []);
  return schema;
}

/** An id box that applies on Enter or blur, refusing names the pipeline format does not allow. */
function NameInput({ value, onCommit, testId, taken }: { value: string; onCommit(v: string): void; testId: string; taken?: Set<string> }) {
  const [text, setText] = useState(value);
  useEffect(() => setText(value), [value]);
  const problem = !NAME.test(text)
    ? 'must start with a letter and hold only letters, digits, "_" and "-"'
    : text !== value && taken?.has(text)
      ? `"${text}" is already used`
      : undefined;
  const commit = () => {
    if (!problem && text !== value) onCommit(text);
  };
  return (
    <>
      <input
        value={text}
        data-testid={testId}
        className={problem ? "invalid" : undefined}
        onChange={(e) => setText(e.target.value)}
        onBlur={commit}
        onKeyDown={(e) => e.key === "Enter" && commit()}
      />
      {problem && <div className="field-problem">{problem}</div>}
    </>
  );
}

export function NodePanel(props: {
  node: FlowNode;
  info?: NodeTypeInfo;
  problems: PlacedProblems;
  nodeIds: Set<string>;
  onRename(id: string): void;
  onConfig(config: Record<string, unknown> | undefined): void;
}) {
  const { node, info, problems, nodeIds, onRename, onConfig } = props;
  const mine = problems.nodes.get(node.id) ?? [];
  return (
    <div className="panel" data-testid="node-panel">
      <h3>{info?.title ?? node.data.type}</h3>
      <div className="muted mono">{node.data.type}</div>
      {info && <p className="description">{info.description}</p>}
      <div className="field">
        <label className="field-label">id</label>
        <NameInput value={node.id} onCommit={onRename} testId="node-id" taken={nodeIds} />
      </div>
      <PortList title="inputs" ports={node.data.inputs} />
      <PortList title="outputs" ports={node.data.outputs} />
      <LiveStatus nodeId={node.id} />
      <h4>Settings</h4>
      {info ? (
        <SchemaForm key={node.id} schema={info.config} value={node.data.config} defaults={info.defaults} problems={mine} onChange={onConfig} />
      ) : (
        <div className="field-problem">Unknown node type “{node.data.type}”.</div>
      )}
      {info && (
        <details className="node-panel-help" data-testid="node-panel-help">
          <summary>Help</summary>
          <NodeHelp info={info} />
        </details>
      )}
    </div>
  );
}

/** What the running node reports (counts, and its own figures such as a drift detector's state). */
function LiveStatus({ nodeId }: { nodeId: string }) {
  const live = useCanvasInfo().nodeStatus.get(nodeId);
  if (!live) return null;
  const figures = Object.entries(live.extra).filter(([, v]) => v === null || ["number", "string", "boolean"].includes(typeof v));
  return (
    <div data-testid="node-live">
      <h4>Live</h4>
      <div className="muted">
        in {live.in} · out {live.out} · errors {live.errors} · {live.rate.toFixed(1)}/s
      </div>
      {figures.length > 0 && (
        <table className="live-figures">
          <tbody>
            {figures.map(([k, v]) => (
              <tr key={k}>
                <th>{k}</th>
                <td className="mono">{typeof v === "number" && !Number.isInteger(v) ? Number(v.toPrecision(4)) : String(v)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}

function PortList({ title, ports }: { title: string; ports: FlowNode["data"]["inputs"] }) {
  const entries = Object.entries(ports);
  if (!entries.length) return null;
  return (
    <div className="port-list">
      <span className="muted">{title}:</span>{" "}
      {entries.map(([name, t]) => (
        <span key={name} className={`port-chip handle-${t.kind}`}>
          {name}: {t.label}
        </span>
      ))}
    </div>
  );
}

export function EdgePanel(props: { edge: FlowEdge; problems: PlacedProblems; deployed?: string; onMode(mode: EdgeMode): void; onQueue(queue: unknown): void }) {
  const { edge, problems, deployed, onMode, onQueue } = props;
  const mode = edgeMode(edge);
  const mine = problems.edges.get(edge.id) ?? [];
  const queueSchema = useQueueSchema();
  return (
    <div className="panel" data-testid="edge-panel">
      <h3>Edge</h3>
      <div className="mono">
        {edge.source}.{edge.sourceHandle} → {edge.target}.{edge.targetHandle}
      </div>
      <div className="muted mono">id {edge.id}</div>
      {mine.map((m, i) => (
        <div key={i} className="field-problem" role="alert">
          {m}
        </div>
      ))}
      <div className="field">
        <label className="field-label">mode</label>
        <select value={mode} onChange={(e) => onMode(e.target.value as EdgeMode)} data-testid="edge-mode">
          <option value="sync">sync — on the request path</option>
          <option value="async">async — handed off, never adds latency</option>
        </select>
      </div>
      {mode === "async" && queueSchema && (
        <>
          <h4>Queue</h4>
          <SchemaForm
            key={edge.id}
            schema={queueSchema}
            value={edge.data?.queue as Record<string, unknown> | undefined}
            defaults={null}
            problems={[]}
            onChange={onQueue}
          />
        </>
      )}
      <h4>Live tap</h4>
      {deployed ? <TapPanel key={`${deployed}/${edge.id}`} pipeline={deployed} edge={edge.id} from={{ node: edge.source, port: edge.sourceHandle ?? "" }} /> : <div className="muted">Deploy the pipeline to tap this edge.</div>}
    </div>
  );
}

export function PipelinePanel(props: {
  doc: PipelineDoc;
  problems: Problem[];
  placed: PlacedProblems;
  counts: { nodes: number; edges: number };
  running: string[];
  deployed?: string;
  onRename(name: string): void;
  onSelect(kind: "node" | "edge", id: string): void;
}) {
  const { doc, problems, placed, counts, running, deployed, onRename, onSelect } = props;
  return (
    <div className="panel" data-testid="pipeline-panel">
      <h3>Pipeline</h3>
      <div className="field">
        <label className="field-label">name</label>
        <NameInput value={doc.name} onCommit={onRename} testId="pipeline-name" />
      </div>
      {typeof doc.meta.description === "string" && <p className="description">{doc.meta.description}</p>}
      <div className="muted">
        {counts.nodes} nodes · {counts.edges} edges
      </div>
      <h4>Problems</h4>
      {problems.length === 0 && placed.nodes.size === 0 && placed.edges.size === 0 && <div className="ok">No problems found.</div>}
      <ul className="problem-list" data-testid="problem-list">
        {problems.map((p, i) => (
          <li key={`p${i}`}>
            <span className="mono">{p.path}</span> {p.message}
          </li>
        ))}
        {[...placed.nodes].flatMap(([id, list]) =>
          list.map((p, i) => (
            <li key={`n${id}${i}`} className="clickable" onClick={() => onSelect("node", id)}>
              <b>{id}</b> {p.field && <span className="mono">{p.field}</span>} {p.message}
            </li>
          )),
        )}
        {[...placed.edges].flatMap(([id, list]) =>
          list.map((m, i) => (
            <li key={`e${id}${i}`} className="clickable" onClick={() => onSelect("edge", id)}>
              <b>{id}</b> {m}
            </li>
          )),
        )}
      </ul>
      {deployed && <TestsPanel key={deployed} pipeline={deployed} />}
      <h4>Running in this runtime</h4>
      {running.length === 0 && <div className="muted">No pipeline is running.</div>}
      <ul className="running-list" data-testid="running-list">
        {running.map((name) => (
          <li key={name}>
            <span className="mono">{name}</span> <a href={`#/pipelines/${encodeURIComponent(name)}`}>open</a> ·{" "}
            <a href={`#/services/${encodeURIComponent(name)}`}>dashboard</a>
          </li>
        ))}
      </ul>
    </div>
  );
}

/** The panel for what is selected: one node, one edge, or else the pipeline. */
export function SidePanel(p: {
  doc: PipelineDoc;
  nodes: FlowNode[];
  edges: FlowEdge[];
  problems: PlacedProblems;
  deployed?: string;
  running: string[];
  info(type: string): NodeTypeInfo | undefined;
  onRenameNode(oldId: string, newId: string): void;
  onConfig(node: FlowNode, config: Record<string, unknown> | undefined): void;
  onEdge(id: string, patch: Partial<NonNullable<FlowEdge["data"]>>, coalesceKey?: string): void;
  onRenamePipeline(name: string): void;
  onSelect(kind: "node" | "edge", id: string): void;
}) {
  const { problems } = p;
  const selectedNodes = p.nodes.filter((n) => n.selected);
  const selectedEdges = p.edges.filter((e) => e.selected);
  if (selectedNodes.length === 1 && selectedEdges.length === 0) {
    const node = selectedNodes[0];
    return (
      <NodePanel
        node={node}
        info={p.info(node.data.type)}
        problems={problems}
        nodeIds={new Set(p.nodes.map((n) => n.id))}
        onRename={(id) => p.onRenameNode(node.id, id)}
        onConfig={(config) => p.onConfig(node, config)}
      />
    );
  }
  if (selectedEdges.length === 1 && selectedNodes.length === 0) {
    const edge = selectedEdges[0];
    return (
      <EdgePanel
        edge={edge}
        problems={problems}
        deployed={p.deployed}
        onMode={(mode) => p.onEdge(edge.id, { mode, queue: mode === "sync" ? undefined : edge.data?.queue })}
        onQueue={(queue) => p.onEdge(edge.id, { queue }, `queue:${edge.id}`)}
      />
    );
  }
  return (
    <PipelinePanel
      doc={p.doc}
      problems={problems.pipeline}
      placed={problems}
      counts={{ nodes: p.nodes.length, edges: p.edges.length }}
      running={p.running}
      deployed={p.deployed}
      onRename={p.onRenamePipeline}
      onSelect={p.onSelect}
    />
  );
}
