/** The label on an edge or a bundle: the validator's objection, else its live figures (rate, drops, queue depth / capacity). */
import { useReactFlow } from "@xyflow/react";
import { queueText, rateText, type EdgeFigures } from "./core/edge-bundles";

/** The label sits on the edge: clicking it selects the edge, as clicking the line does. */
export function useSelectEdge(id: string): () => void {
  const { setNodes, setEdges } = useReactFlow();
  return () => {
    setNodes((ns) => ns.map((n) => (n.selected ? { ...n, selected: false } : n)));
    setEdges((es) => es.map((e) => (e.selected !== (e.id === id) ? { ...e, selected: e.id === id } : e)));
  };
}

/** Short on the canvas (edges can be short): the validator's objection, else the live figures; full reasons in the tooltip and the panels. */
export function EdgeLabel(p: { id: string; x: number; y: number; problems?: string[]; figures?: EdgeFigures; count?: number; countId?: string; title?: string; onClick?(): void }) {
  const { problems, figures, count } = p;
  return (
    <div
      className={`edge-label nodrag nopan ${problems ? "edge-label-problem" : ""}`}
      style={{ transform: `translate(-50%, -50%) translate(${p.x}px, ${p.y}px)` }}
      title={problems?.join("\n") ?? p.title}
      onClick={p.onClick}
      data-testid={`edge-label-${p.id}`}
    >
      {/* One fact a line: narrow enough for the gap between two layers of nodes. */}
      {count !== undefined && <b data-testid={p.countId}>{count} edges</b>}
      {problems ? <span>⚠ {problems.length > 1 ? `${problems.length} problems` : "problem"}</span> : figures && <span>{rateText(figures)}</span>}
      {!problems && figures?.queue && (
        <span
          className={`edge-queue queue-${figures.queue.fill}`}
          data-testid={`edge-queue-${p.id}`}
          data-depth={figures.queue.depth}
          data-capacity={figures.queue.capacity}
          title="Messages waiting on this async edge / its queue capacity"
        >
          {queueText(figures.queue)}
        </span>
      )}
    </div>
  );
}
