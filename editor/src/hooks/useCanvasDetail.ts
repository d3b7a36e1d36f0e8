/**
 * React side of core/canvas-detail.ts: the detail the canvas draws at its zoom (re-rendering only
 * when it changes), and `--text-scale` on the canvas element, set straight on the DOM as the zoom
 * moves so zooming does not re-render the editor.
 */
import { useStore, useStoreApi } from "@xyflow/react";
import { useEffect, type RefObject } from "react";
import { detailAt, textScale, type Detail } from "../core/canvas-detail";

export function useCanvasDetail(canvas: RefObject<HTMLElement | null>): Detail {
  const store = useStoreApi();
  const detail = useStore((s) => detailAt(s.transform[2]));
  useEffect(() => {
    const apply = (zoom: number) => canvas.current?.style.setProperty("--text-scale", String(textScale(zoom)));
    apply(store.getState().transform[2]);
    return store.subscribe((s) => apply(s.transform[2]));
  }, [store, canvas]);
  return detail;
}
