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
import { CanvasContext, emptyProblems, type EdgeLive, type NodeLive } from "./context";
import { FlowEdgeComponent } from "./FlowEdge";
import { FlowNodeComponent } from "./FlowNode";
import {
  connectionProblem,
  exportPipeline,
  freshNodeId,
  fromPipeline,
  makeEdge,
  newNode,
  placeProblems,
  toPipeline,
  type EdgeMode,
  type FlowEdge,
  type FlowNode,
  type PipelineDoc,
  type PlacedProblems,
} from "./graph";
import { layoutLeftToRight } from "./layout";
import { DRAG_TYPE, Palette } from "./Palette";
import { EdgePanel, NodePanel, PipelinePanel } from "./Panels";

const nodeTypes = { evoflow: FlowNodeComponent };
const edgeTypes = { evoflow: FlowEdgeComponent };

interface Snapshot {
  doc: PipelineDoc;
  nodes: FlowNode[];
  edges: FlowEdge[];
}

interface StatusLine {
  text: string;
  kind: "info" | "error" | "ok";
}

const isTyping = (el: EventTarget | null) =>
  el instanceof HTMLElement && (el.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(el.tagName));

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
  const [problems, setProblems] = useState<PlacedProblems>(emptyProblems);
  const [deployed, setDeployed] = useState<string>();
  const [nodeStatus, setNodeStatus] = useState(new Map<string, NodeLive>());
  const [edgeStatus, setEdgeStatus] = useState(new Map<string, EdgeLive>());
  const [status, setStatus] = useState<StatusLine>();
  const [layoutCount, setLayoutCount] = useState(0);
  const { screenToFlowPosition, fitView, getNodes, getEdges } = useReactFlow<FlowNode, FlowEdge>();
  const docRef = useRef(doc);
  docRef.current = doc;
  const fileInput = useRef<HTMLInputElement>(null);
  // Fit the view once React Flow has measured the nodes just loaded or moved.
  const [fitPending, setFitPending] = useState(false);
  const nodesInitialized = useNodesInitialized();
  useEffect(() => {
    if (!fitPending || !nodesInitialized) return;
    setFitPending(false);
    void fitView({ padding: 0.1, maxZoom: 1.25 });
  }, [fitPending, nodesInitialized, fitView]);

  const say = useCallback((text: string, kind: StatusLine["kind"] = "info") => {
    setStatus((s) => (s?.text === text && s.kind === kind ? s : { text, kind }));
  }, []);

  // ---- undo / redo: snapshots of the document, taken before each change ----
  const past = useRef<Snapshot[]>([]);
  const future = useRef<Snapshot[]>([]);
  const lastCoalesce = useRef<{ key: string; at: number }>(undefined);
  const snapshot = useCallback((): Snapshot => ({ doc: docRef.current, nodes: getNodes(), edges: getEdges() }), [getNodes, getEdges]);
  /** Call before changing the document. Edits of one field in quick succession make one undo step. */
  const remember = useCallback(
    (coalesceKey?: string) => {
      const now = Date.now();
      const last = lastCoalesce.current;
      lastCoalesce.current = coalesceKey ? { key: coalesceKey, at: now } : undefined;
      if (coalesceKey && last?.key === coalesceKey && now - last.at < 1500) return;
      past.current.push(snapshot());
      if (past.current.length > 200) past.current.shift();
      future.current = [];
    },
    [snapshot],
  );
  const restore = useCallback(
    (s: Snapshot) => {
      setDoc(s.doc);
      setNodes(s.nodes);
      setEdges(s.edges);
    },
    [setNodes, setEdges],
  );
  const undo = useCallback(() => {
    const prev = past.current.pop();
    if (!prev) return say("Nothing to undo");
    future.current.push(snapshot());
    lastCoalesce.current = undefined;
    restore(prev);
  }, [restore, snapshot, say]);
  const redo = useCallback(() => {
    const next = future.current.pop();
    if (!next) return say("Nothing to redo");
    past.current.push(snapshot());
    restore(next);
  }, [restore, snapshot, say]);

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
  const validatedSignature = useRef("");
  const problemsKey = useRef("[]");
  const validateNow = useCallback(async () => {
    const { json, nodeIds, edgeIds } = toPipeline(docRef.current, getNodes(), getEdges());
    const signature = JSON.stringify({ ...json, nodes: (json.nodes as Record<string, unknown>[]).map(({ position: _p, ...n }) => n) });
    validatedSignature.current = signature;
    const result = await api.validate(json);
    if (validatedSignature.current !== signature) return undefined; // a newer edit is being checked
    // Unchanged problems keep the same object, so 500 nodes do not re-render for nothing.
    const key = JSON.stringify(result.problems);
    if (key !== problemsKey.current) {
      problemsKey.current = key;
      setProblems(placeProblems(result.problems, nodeIds, edgeIds));
    }
    return result;
  }, [getNodes, getEdges]);
  useEffect(() => {
    const timer = setTimeout(() => {
      const { json } = toPipeline(doc, nodes, edges);
      const signature = JSON.stringify({ ...json, nodes: (json.nodes as Record<string, unknown>[]).map(({ position: _p, ...n }) => n) });
      if (signature !== validatedSignature.current) validateNow().catch((err: Error) => say(`validate: ${err.message}`, "error"));
    }, 300);
    return () => clearTimeout(timer);
  }, [doc, nodes, edges, validateNow, say]);

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

  // ---- copy / paste (within the editor) ----
  const clipboard = useRef<{ nodes: FlowNode[]; edges: FlowEdge[] }>(undefined);
  const copy = useCallback(() => {
    const picked = getNodes().filter((n) => n.selected);
    if (!picked.length) return;
    const ids = new Set(picked.map((n) => n.id));
    clipboard.current = { nodes: picked, edges: getEdges().filter((e) => ids.has(e.source) && ids.has(e.target)) };
    say(`Copied ${picked.length} node${picked.length > 1 ? "s" : ""}`);
  }, [getNodes, getEdges, say]);
  const paste = useCallback(() => {
    const clip = clipboard.current;
    if (!clip) return;
    remember();
    const taken = new Set(getNodes().map((n) => n.id));
    const renamed = new Map<string, string>();
    for (const n of clip.nodes) {
      const id = freshNodeId(n.id, taken);
      taken.add(id);
      renamed.set(n.id, id);
    }
    const pastedNodes = clip.nodes.map((n) => ({ ...n, id: renamed.get(n.id)!, position: { x: n.position.x + 40, y: n.position.y + 40 }, selected: true }));
    const pastedEdges = clip.edges.map((e) => makeEdge(renamed.get(e.source)!, e.sourceHandle ?? "", renamed.get(e.target)!, e.targetHandle ?? "", { ...e.data, explicitId: undefined }));
    setNodes((ns) => [...ns.map((n) => ({ ...n, selected: false })), ...pastedNodes]);
    setEdges((es) => [...es.map((e) => ({ ...e, selected: false })), ...pastedEdges]);
    clipboard.current = { nodes: pastedNodes, edges: pastedEdges }; // pasting again offsets again
    say(`Pasted ${pastedNodes.length} node${pastedNodes.length > 1 ? "s" : ""}`);
  }, [remember, getNodes, setNodes, setEdges, say]);

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (isTyping(e.target)) return;
      const mod = e.ctrlKey || e.metaKey;
      if (!mod) return;
      const key = e.key.toLowerCase();
      if (key === "z" && !e.shiftKey) undo();
      else if ((key === "z" && e.shiftKey) || key === "y") redo();
      else if (key === "c") copy();
      else if (key === "v") paste();
      else return;
      e.preventDefault();
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [undo, redo, copy, paste]);

  // ---- import / export ----
  const load = useCallback(
    (json: unknown, source: string) => {
      const loaded = fromPipeline(json, typeMap);
      remember();
      // The previous document's problems go; the validator reports the new one's shortly.
      if (problemsKey.current !== "[]") {
        problemsKey.current = "[]";
        setProblems(emptyProblems());
      }
      setDoc(loaded.doc);
      setNodes(loaded.needsLayout ? layoutLeftToRight(loaded.nodes, loaded.edges) : loaded.nodes);
      setEdges(loaded.edges);
      for (const n of loaded.nodes) refreshPorts(n.id, n.data.type, n.data.config, 0);
      setFitPending(true);
      say(`Opened ${source}: ${loaded.nodes.length} nodes, ${loaded.edges.length} edges`, "ok");
    },
    [typeMap, remember, setNodes, setEdges, refreshPorts, say],
  );

  const importFile = useCallback(
    async (file: File) => {
      try {
        load(JSON.parse(await file.text()), file.name);
      } catch (err) {
        say(`Cannot open ${file.name}: ${(err as Error).message}`, "error");
      }
    },
    [load, say],
  );

  const exportFile = useCallback(async () => {
    let text: string;
    try {
      text = await exportPipeline(docRef.current, getNodes(), getEdges());
    } catch (err) {
      say(`Cannot export: ${(err as Error).message}`, "error");
      return;
    }
    const url = URL.createObjectURL(new Blob([text], { type: "application/json" }));
    const a = document.createElement("a");
    a.href = url;
    a.download = `${docRef.current.name}.json`;
    a.click();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
    say(`Exported ${a.download} (canonical, as evoflow fmt writes it)`, "ok");
  }, [getNodes, getEdges, say]);

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
      problemsKey.current = "[]";
      setProblems(emptyProblems());
      say(`Deployed ${r.name}`, "ok");
    } catch (err) {
      const body = err instanceof ApiError ? (err.body as { problems?: Problem[] }) : undefined;
      if (body?.problems) {
        problemsKey.current = JSON.stringify(body.problems);
        setProblems(placeProblems(body.problems, nodeIds, edgeIds));
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

  useEffect(() => {
    if (!deployed) {
      setNodeStatus(new Map());
      setEdgeStatus(new Map());
      return;
    }
    let previous: { at: number; nodes: Map<string, number>; edges: Map<string, number> } | undefined;
    let stopped = false;
    const poll = async () => {
      try {
        const s = await api.status(deployed);
        if (stopped) return;
        const at = performance.now();
        const secs = previous ? (at - previous.at) / 1000 : 0;
        const rate = (now: number, before: number | undefined) => (secs > 0 && before !== undefined ? Math.max(0, now - before) / secs : 0);
        const nodeLive = new Map<string, NodeLive>();
        for (const [id, n] of Object.entries(s.nodes)) {
          const { type: _t, in: inCount, out, errors, ...extra } = n;
          nodeLive.set(id, { in: inCount, out, errors, rate: rate(out, previous?.nodes.get(id)), extra });
        }
        const edgeLive = new Map<string, EdgeLive>();
        for (const [id, e] of Object.entries(s.edges)) edgeLive.set(id, { ...e, rate: rate(e.tapped, previous?.edges.get(id)) });
        previous = {
          at,
          nodes: new Map([...nodeLive].map(([id, n]) => [id, n.out])),
          edges: new Map([...edgeLive].map(([id, e]) => [id, e.tapped])),
        };
        setNodeStatus(nodeLive);
        setEdgeStatus(edgeLive);
      } catch (err) {
        if (err instanceof ApiError && err.status === 404) {
          setDeployed(undefined);
          say(`Pipeline ${deployed} is no longer running`, "error");
        }
      }
    };
    void poll();
    const timer = setInterval(poll, 1000);
    return () => {
      stopped = true;
      clearInterval(timer);
    };
  }, [deployed, say]);

  // ---- selection drives the side panel ----
  const selectedNodes = nodes.filter((n) => n.selected);
  const selectedEdges = edges.filter((e) => e.selected);
  const select = useCallback(
    (kind: "node" | "edge", id: string) => {
      setNodes((ns) => ns.map((n) => ({ ...n, selected: kind === "node" && n.id === id })));
      setEdges((es) => es.map((e) => ({ ...e, selected: kind === "edge" && e.id === id })));
    },
    [setNodes, setEdges],
  );

  let panel;
  if (selectedNodes.length === 1 && selectedEdges.length === 0) {
    const node = selectedNodes[0];
    panel = (
      <NodePanel
        node={node}
        info={typeMap.get(node.data.type)}
        problems={problems}
        nodeIds={new Set(nodes.map((n) => n.id))}
        onRename={(id) => renameNode(node.id, id)}
        onConfig={(config) => setConfig(node, config)}
      />
    );
  } else if (selectedEdges.length === 1 && selectedNodes.length === 0) {
    const edge = selectedEdges[0];
    panel = (
      <EdgePanel
        edge={edge}
        problems={problems}
        deployed={deployed}
        onMode={(mode) => updateEdge(edge.id, { mode, queue: mode === "sync" ? undefined : edge.data?.queue })}
        onQueue={(queue) => updateEdge(edge.id, { queue }, `queue:${edge.id}`)}
      />
    );
  } else {
    panel = (
      <PipelinePanel
        doc={doc}
        problems={problems.pipeline}
        placed={problems}
        counts={{ nodes: nodes.length, edges: edges.length }}
        running={running}
        onRename={(name) => {
          remember();
          setDoc((d) => ({ ...d, name }));
        }}
        onSelect={select}
      />
    );
  }

  const problemCount = problems.pipeline.length + [...problems.nodes.values()].reduce((a, l) => a + l.length, 0) + [...problems.edges.values()].reduce((a, l) => a + l.length, 0);
  const canvasInfo = useMemo(() => ({ types: typeMap, problems, nodeStatus, edgeStatus }), [typeMap, problems, nodeStatus, edgeStatus]);

  return (
    <div className="editor">
      <header className="toolbar">
        <b className="brand">Evoflow</b>
        <span className="doc-name" data-testid="doc-name">
          {doc.name}
        </span>
        <button type="button" onClick={() => fileInput.current?.click()} data-testid="import">
          Import
        </button>
        <input ref={fileInput} type="file" accept=".json,application/json" hidden data-testid="import-file" onChange={(e) => {
          const file = e.target.files?.[0];
          if (file) void importFile(file);
          e.target.value = "";
        }} />
        <button type="button" onClick={exportFile} data-testid="export">
          Export
        </button>
        <span className="sep" />
        <button type="button" onClick={autoLayout} data-testid="layout" title="Auto-layout, left to right (dagre)">
          Layout
        </button>
        <button type="button" onClick={() => void fitView({ padding: 0.1, maxZoom: 1.25 })} data-testid="fit">
          Fit
        </button>
        <button type="button" onClick={undo} title="Ctrl+Z" data-testid="undo">
          Undo
        </button>
        <button type="button" onClick={redo} title="Ctrl+Shift+Z" data-testid="redo">
          Redo
        </button>
        <span className="sep" />
        <button type="button" onClick={() => void validateNow()} data-testid="validate" className={problemCount ? "warn" : ""}>
          {problemCount ? `${problemCount} problem${problemCount > 1 ? "s" : ""}` : "Valid"}
        </button>
        <button type="button" onClick={() => void deploy()} data-testid="deploy" className="primary">
          Deploy
        </button>
        <button type="button" onClick={() => void stop()} disabled={!deployed} data-testid="stop">
          Stop
        </button>
        {deployed && (
          <span className="deployed" data-testid="deployed">
            ● running {deployed}
          </span>
        )}
        <span className="grow" />
        <a href="#/services">CL dashboard</a>
      </header>
      <CanvasContext.Provider value={canvasInfo}>
        <div className="workspace">
          <Palette types={types} onAdd={(t) => addNode(t)} />
          <main className="canvas" onDragOver={(e) => e.preventDefault()} onDrop={onDrop} data-testid="canvas" data-layout-count={layoutCount}>
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
      <footer className={`status-line ${status?.kind ?? ""}`} data-testid="status-line">
        {status?.text ?? "Drag a node from the palette, connect ports, deploy. Ctrl+Z undo, Ctrl+C/V copy, Delete removes."}
      </footer>
    </div>
  );
}
