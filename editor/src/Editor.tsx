/**
 * The pipeline editor: palette, canvas, side panel and toolbar. Everything the
 * runtime decides (validity, ports of config-dependent nodes, status) is asked
 * of the runtime; the canvas only refuses connections at once with the same
 * `incompatibility()` the validator runs.
 */
import {
  Background,
  Controls,
  MiniMap,
  ReactFlow,
  ReactFlowProvider,
  useEdgesState,
  useNodesInitialized,
  useNodesState,
  useReactFlow,
  type Connection,
  type FinalConnectionState,
  type IsValidConnection,
  type OnBeforeDelete,
} from "@xyflow/react";
import { useCallback, useEffect, useMemo, useRef, useState, type DragEvent } from "react";
import { api, ApiError, type NodeTypeInfo, type Problem } from "./api";
import { CanvasContext } from "./context";
import type { Opened } from "./core/pipeline-file";
import { FlowEdgeComponent } from "./FlowEdge";
import { FlowNodeComponent } from "./FlowNode";
import {
  connectionProblem,
  freshNodeId,
  makeEdge,
  newNode,
  toPipeline,
  type EdgeMode,
  type FlowEdge,
  type FlowNode,
  type PipelineDoc,
} from "./graph";
import { layoutLeftToRight } from "./layout";
import { FIT, Toolbar } from "./Toolbar";
import { DRAG_TYPE, Palette } from "./Palette";
import { SidePanel } from "./Panels";
import { useCanvasDetail } from "./hooks/useCanvasDetail";
import { useClipboard } from "./hooks/useClipboard";
import { useLiveStatus } from "./hooks/useLiveStatus";
import { usePipelineFile } from "./hooks/usePipelineFile";
import { NodeRedImport } from "./NodeRedImport";
import { useShortcuts } from "./hooks/useShortcuts";
import { useUndoHistory } from "./hooks/useUndoHistory";
import { useValidation } from "./hooks/useValidation";

const nodeTypes = { evoflow: FlowNodeComponent };
const edgeTypes = { evoflow: FlowEdgeComponent };
/**
 * Above this many nodes only what is in view is drawn: fit stops at FIT_MIN_ZOOM, so most of a
 * 2,000-node pipeline is off screen, and drawing all of it took 2.3 s to open (bench/editor.ts).
 */
const DRAW_ONLY_VISIBLE_ABOVE = 1000;

interface Snapshot {
  doc: PipelineDoc;
  nodes: FlowNode[];
  edges: FlowEdge[];
}

interface StatusLine {
  text: string;
  kind: "info" | "error" | "ok";
}

export function Editor(props: { types: NodeTypeInfo[]; open?: string }) {
  return (
    <ReactFlowProvider>
      <EditorCanvas {...props} />
    </ReactFlowProvider>
  );
}

function EditorCanvas({ types, open }: { types: NodeTypeInfo[]; open?: string }) {
  const typeMap = useMemo(() => new Map(types.map((t) => [t.type, t])), [types]);
  const [nodes, setNodes, onNodesChange] = useNodesState<FlowNode>([]);
  const [edges, setEdges, onEdgesChange] = useEdgesState<FlowEdge>([]);
  const [doc, setDoc] = useState<PipelineDoc>({ name: "untitled", meta: {} });
  const [deployed, setDeployed] = useState<string>();
  const [status, setStatus] = useState<StatusLine>();
  const [layoutCount, setLayoutCount] = useState(0);
  const { screenToFlowPosition, fitView, getNodes, getEdges } = useReactFlow<FlowNode, FlowEdge>();
  const docRef = useRef(doc);
  docRef.current = doc;
  // Fit the view once React Flow has measured the nodes just loaded or moved.
  const [fitPending, setFitPending] = useState(false);
  const [fitCount, setFitCount] = useState(0);
  const [importingNodeRed, setImportingNodeRed] = useState(false);
  const nodesInitialized = useNodesInitialized();
  useEffect(() => {
    if (!fitPending || !nodesInitialized) return;
    setFitPending(false);
    void fitView(FIT).then(() => setFitCount((n) => n + 1));
  }, [fitPending, nodesInitialized, fitView]);

  const say = useCallback((text: string, kind: StatusLine["kind"] = "info") => {
    setStatus((s) => (s?.text === text && s.kind === kind ? s : { text, kind }));
  }, []);

  // ---- undo / redo: snapshots of the document, taken before each change ----
  const snapshot = useCallback((): Snapshot => ({ doc: docRef.current, nodes: getNodes(), edges: getEdges() }), [getNodes, getEdges]);
  const restore = useCallback(
    (s: Snapshot) => {
      setDoc(s.doc);
      setNodes(s.nodes);
      setEdges(s.edges);
    },
    [setNodes, setEdges],
  );
  const { remember, undo, redo } = useUndoHistory(snapshot, restore, say);

  // ---- ports of nodes whose ports depend on their config come from the runtime ----
  const portTimers = useRef(new Map<string, ReturnType<typeof setTimeout>>());
  const refreshPorts = useCallback(
    (nodeId: string, type: string, config: Record<string, unknown> | undefined, delay = 300) => {
      if (!typeMap.get(type)?.portsDependOnConfig) return;
      clearTimeout(portTimers.current.get(nodeId));
      portTimers.current.set(
        nodeId,
        setTimeout(() => {
          api.ports(type, config ?? {}).then(
            (ports) => setNodes((ns) => ns.map((n) => (n.id === nodeId ? { ...n, data: { ...n.data, ...ports } } : n))),
            () => undefined, // an invalid config keeps the last ports; the validator says what is wrong
          );
        }, delay),
      );
    },
    [typeMap, setNodes],
  );

  // ---- validation: the runtime's checker, after each change that is not a move ----
  const currentDoc = useCallback(() => docRef.current, []);
  const { problems, showProblems, validateNow } = useValidation(doc, currentDoc, nodes, edges, say);

  // ---- building ----
  const addNode = useCallback(
    (type: string, position?: { x: number; y: number }) => {
      const info = typeMap.get(type);
      if (!info) return;
      remember();
      const taken = new Set(getNodes().map((n) => n.id));
      const id = freshNodeId(type, taken);
      const at = position ?? screenToFlowPosition({ x: window.innerWidth / 2, y: window.innerHeight / 2 });
      setNodes((ns) => [...ns.map((n) => (n.selected ? { ...n, selected: false } : n)), { ...newNode(info, id, at), selected: true }]);
      setEdges((es) => es.map((e) => (e.selected ? { ...e, selected: false } : e)));
      say(`Added ${id} (${type})`);
    },
    [typeMap, remember, getNodes, screenToFlowPosition, setNodes, setEdges, say],
  );

  const onDrop = useCallback(
    (e: DragEvent) => {
      e.preventDefault();
      const type = e.dataTransfer.getData(DRAG_TYPE);
      if (type) addNode(type, screenToFlowPosition({ x: e.clientX, y: e.clientY }));
    },
    [addNode, screenToFlowPosition],
  );

  const refusal = useCallback(
    (c: Connection) => connectionProblem(c, new Map(getNodes().map((n) => [n.id, n])), getEdges()),
    [getNodes, getEdges],
  );

  const isValidConnection: IsValidConnection<FlowEdge> = useCallback(
    (c) => {
      const why = refusal(c as Connection);
      if (why) say(`Refused: ${why}`, "error");
      return !why;
    },
    [refusal, say],
  );

  const onConnect = useCallback(
    (c: Connection) => {
      if (refusal(c)) return;
      remember();
      const target = getNodes().find((n) => n.id === c.target);
      // Nodes that gather many messages into one (batch) cannot answer a sync caller.
      const mode: EdgeMode = target && typeMap.get(target.data.type)?.acceptsSync === false ? "async" : "sync";
      setEdges((es) => [...es, makeEdge(c.source, c.sourceHandle ?? "", c.target, c.targetHandle ?? "", { mode })]);
      say(`Connected ${c.source}.${c.sourceHandle} → ${c.target}.${c.targetHandle} (${mode})`, "ok");
    },
    [refusal, remember, getNodes, typeMap, setEdges, say],
  );

  const onConnectEnd = useCallback(
    (_e: MouseEvent | TouchEvent, state: FinalConnectionState) => {
      if (state.isValid !== false || !state.fromHandle || !state.toHandle) return;
      const [from, to] = state.fromHandle.type === "source" ? [state.fromHandle, state.toHandle] : [state.toHandle, state.fromHandle];
      const why = refusal({ source: from.nodeId, sourceHandle: from.id ?? null, target: to.nodeId, targetHandle: to.id ?? null });
      if (why) say(`Refused: ${why}`, "error");
    },
    [refusal, say],
  );

  const onBeforeDelete: OnBeforeDelete<FlowNode, FlowEdge> = useCallback(async () => {
    remember();
    return true;
  }, [remember]);

  const onNodeDragStart = useCallback(() => remember(), [remember]);

  const renameNode = useCallback(
    (oldId: string, newId: string) => {
      remember();
      setNodes((ns) => ns.map((n) => (n.id === oldId ? { ...n, id: newId } : n)));
      setEdges((es) =>
        es.map((e) =>
          e.source === oldId || e.target === oldId
            ? {
                ...makeEdge(e.source === oldId ? newId : e.source, e.sourceHandle ?? "", e.target === oldId ? newId : e.target, e.targetHandle ?? "", e.data ?? {}),
                selected: e.selected,
              }
            : e,
        ),
      );
    },
    [remember, setNodes, setEdges],
  );

  const setConfig = useCallback(
    (node: FlowNode, config: Record<string, unknown> | undefined) => {
      remember(`config:${node.id}`);
      setNodes((ns) => ns.map((n) => (n.id === node.id ? { ...n, data: { ...n.data, config } } : n)));
      refreshPorts(node.id, node.data.type, config);
    },
    [remember, setNodes, refreshPorts],
  );

  const updateEdge = useCallback(
    (id: string, patch: Partial<NonNullable<FlowEdge["data"]>>, coalesceKey?: string) => {
      remember(coalesceKey);
      setEdges((es) => es.map((e) => (e.id === id ? { ...e, data: { ...e.data, ...patch } } : e)));
    },
    [remember, setEdges],
  );

  const autoLayout = useCallback(() => {
    remember();
    const started = performance.now();
    setNodes(layoutLeftToRight(getNodes(), getEdges()));
    // Exposed for bench/editor.ts, which times dagre apart from rendering.
    performance.measure("evoflow.dagre", { start: started, end: performance.now() });
    setLayoutCount((c) => c + 1);
    setFitPending(true);
  }, [remember, setNodes, getNodes, getEdges]);

  const { copy, paste } = useClipboard(remember, say);

  useShortcuts({ undo, redo, copy, paste });

  // ---- import / export ----
  const show = useCallback(
    (opened: Opened) => {
      remember();
      // The previous document's problems go; the validator reports the new one's shortly.
      showProblems([]);
      setDoc(opened.doc);
      setNodes(opened.nodes);
      setEdges(opened.edges);
      for (const n of opened.nodes) refreshPorts(n.id, n.data.type, n.data.config, 0);
      setFitPending(true);
      say(opened.summary, "ok");
    },
    [remember, showProblems, setNodes, setEdges, refreshPorts, say],
  );
  const { load, importFile, exportFile } = usePipelineFile(typeMap, currentDoc, show, say);

  // Open a running pipeline when asked (#/pipelines/<name>).
  useEffect(() => {
    if (!open) return;
    api.pipeline(open).then(
      (p) => {
        load(p.pipeline, `running pipeline ${open}`);
        setDeployed(open);
      },
      (err: Error) => say(`Cannot open ${open}: ${err.message}`, "error"),
    );
  }, [open, load, say]);

  // ---- deploy / stop / live status ----
  const [running, setRunning] = useState<string[]>([]);
  const refreshRunning = useCallback(() => {
    api.list().then(
      (list) => setRunning(list.map((p) => p.name)),
      () => undefined,
    );
  }, []);
  useEffect(refreshRunning, [refreshRunning, deployed]);

  const deploy = useCallback(async () => {
    const { json, nodeIds, edgeIds } = toPipeline(docRef.current, getNodes(), getEdges());
    try {
      const r = await api.deploy(json);
      setDeployed(r.name);
      showProblems([]);
      say(`Deployed ${r.name}`, "ok");
    } catch (err) {
      const body = err instanceof ApiError ? (err.body as { problems?: Problem[] }) : undefined;
      if (body?.problems) {
        showProblems(body.problems, nodeIds, edgeIds);
        say(`Not deployed: ${body.problems.length} problem${body.problems.length > 1 ? "s" : ""} (see the nodes and the pipeline panel)`, "error");
      } else say(`Not deployed: ${(err as Error).message}`, "error");
    }
  }, [getNodes, getEdges, say]);

  const stop = useCallback(async () => {
    if (!deployed) return;
    try {
      await api.stop(deployed);
      refreshRunning();
      say(`Stopped ${deployed}`, "ok");
    } catch (err) {
      say(`Stop: ${(err as Error).message}`, "error");
    }
    setDeployed(undefined);
  }, [deployed, say, refreshRunning]);

  const gone = useCallback(
    (name: string) => {
      setDeployed(undefined);
      say(`Pipeline ${name} is no longer running`, "error");
    },
    [say],
  );
  const { nodes: nodeStatus, edges: edgeStatus } = useLiveStatus(deployed, gone);

  // ---- selection drives the side panel ----
  const select = useCallback(
    (kind: "node" | "edge", id: string) => {
      setNodes((ns) => ns.map((n) => ({ ...n, selected: kind === "node" && n.id === id })));
      setEdges((es) => es.map((e) => ({ ...e, selected: kind === "edge" && e.id === id })));
    },
    [setNodes, setEdges],
  );

  const panel = (
    <SidePanel
      {...{ doc, nodes, edges, problems, deployed, running }}
      info={(type) => typeMap.get(type)}
      onRenameNode={renameNode}
      onConfig={setConfig}
      onEdge={updateEdge}
      onRenamePipeline={(name) => {
        remember();
        setDoc((d) => ({ ...d, name }));
      }}
      onSelect={select}
    />
  );

  const canvasRef = useRef<HTMLElement>(null);
  const { detail, bundles } = useCanvasDetail(canvasRef, edges);

  const problemCount = problems.pipeline.length + [...problems.nodes.values()].reduce((a, l) => a + l.length, 0) + [...problems.edges.values()].reduce((a, l) => a + l.length, 0);
  const canvasInfo = useMemo(() => ({ types: typeMap, problems, nodeStatus, edgeStatus, bundles }), [typeMap, problems, nodeStatus, edgeStatus, bundles]);

  return (
    <div className="editor">
      <Toolbar
        name={doc.name}
        problemCount={problemCount}
        deployed={deployed}
        onImport={(file) => void importFile(file)}
        onImportNodeRed={() => setImportingNodeRed(true)}
        onExport={() => void exportFile()}
        onLayout={autoLayout}
        onFit={() => void fitView(FIT)}
        onUndo={undo}
        onRedo={redo}
        onValidate={() => void validateNow()}
        onDeploy={() => void deploy()}
        onStop={() => void stop()}
      />
      <CanvasContext.Provider value={canvasInfo}>
        <div className="workspace">
          <Palette types={types} onAdd={(t) => addNode(t)} />
          <main ref={canvasRef} className="canvas" data-detail={detail} onDragOver={(e) => e.preventDefault()} onDrop={onDrop} data-testid="canvas" data-layout-count={layoutCount} data-fit-count={fitCount}>
            <ReactFlow<FlowNode, FlowEdge>
              nodes={nodes}
              edges={edges}
              nodeTypes={nodeTypes}
              edgeTypes={edgeTypes}
              onNodesChange={onNodesChange}
              onEdgesChange={onEdgesChange}
              onConnect={onConnect}
              onConnectEnd={onConnectEnd}
              isValidConnection={isValidConnection}
              onBeforeDelete={onBeforeDelete}
              onNodeDragStart={onNodeDragStart}
              deleteKeyCode={["Backspace", "Delete"]}
              minZoom={0.05}
              onlyRenderVisibleElements={nodes.length > DRAW_ONLY_VISIBLE_ABOVE}
              defaultViewport={{ x: 0, y: 0, zoom: 1 }}
            >
              <Background />
              <Controls />
              <MiniMap pannable zoomable />
            </ReactFlow>
          </main>
          <aside className="side">{panel}</aside>
        </div>
      </CanvasContext.Provider>
      {importingNodeRed && (
        <NodeRedImport
          onClose={() => setImportingNodeRed(false)}
          onOpen={(pipeline, source) => {
            setImportingNodeRed(false);
            load(pipeline, source);
          }}
        />
      )}
      <footer className={`status-line ${status?.kind ?? ""}`} data-testid="status-line">
        {status?.text ?? "Drag a node from the palette, connect ports, deploy. Ctrl+Z undo, Ctrl+C/V copy, Delete removes."}
      </footer>
    </div>
  );
}
