/**
 * React side of core/canvas-detail.ts and core/edge-bundles.ts: the detail the canvas draws at its
 * zoom (re-rendering only when it changes), `--text-scale` on the canvas element (set straight on
 * the DOM as the zoom moves, so zooming re-renders nothing), and, when nodes are compact and show
 * no ports, each edge's bundle.
 */
import { useStore, useStoreApi } from "@xyflow/react";
import { useEffect, useMemo, type RefObject } from "react";
import { detailAt, textScale, type Detail } from "../core/canvas-detail";
import { bundleEdges, placeBundles, type PlacedBundle } from "../core/edge-bundles";
import type { FlowEdge } from "../graph";

export function useCanvasDetail(canvas: RefObject<HTMLElement | null>, edges: FlowEdge[]): { detail: Detail; bundles?: Map<string, PlacedBundle> } {
  const store = useStoreApi();
  const detail = useStore((s) => detailAt(s.transform[2]));
  useEffect(() => {
    const apply = (zoom: number) => canvas.current?.style.setProperty("--text-scale", String(textScale(zoom)));
    apply(store.getState().transform[2]);
    return store.subscribe((s) => apply(s.transform[2]));
  }, [store, canvas]);
  const bundles = useMemo(
    () => (detail === "compact" ? placeBundles(bundleEdges(edges.map((e) => ({ id: e.id, source: e.source, target: e.target, mode: e.data?.mode })))) : undefined),
    [detail, edges],
  );
  return { detail, bundles };
}
