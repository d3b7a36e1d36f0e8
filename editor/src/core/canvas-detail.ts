/**
 * How much of a node the canvas draws at a zoom, framework-free (hooks/useCanvasDetail.ts applies
 * it). Rule: no text on the canvas prints smaller than MIN_TEXT_PX on screen. A full node's text
 * (styles.css: 12 px names, 10 px port types) shrinks with the zoom, so as the user zooms out the
 * node first drops its port types (they stay in the tooltip and the side panel), then turns
 * compact: its id and type title only, in type that grows as the zoom falls (`textScale`), so an
 * overview of the whole pipeline still reads, as in Netron or TensorBoard's graph view.
 * The node keeps its size in every mode, so a layout made at one zoom holds at all others.
 */

/** The smallest text, in screen pixels, the canvas prints (at 1400×900, below it labels smear). */
export const MIN_TEXT_PX = 10;
/** styles.css: `.port-type`, the smallest text of a full node. */
const PORT_TYPE_PX = 10;
/** styles.css: `.flow-node` (ids, port names, status lines). */
const NODE_TEXT_PX = 12;
/**
 * Compact text stops growing below this zoom (it would overflow the node anyway): a user who
 * zooms out further is looking at the shape of the graph. Fit never goes below FIT_MIN_ZOOM.
 */
const MAX_TEXT_SCALE = 4;
/**
 * Fit shows the whole pipeline down to this zoom, and pans a larger one: a compact node is then
 * 200 × 0.5 = 100 px wide, room for an id of about twelve characters at 12 px.
 */
export const FIT_MIN_ZOOM = 0.5;

export type Detail = "full" | "names" | "compact";

export function detailAt(zoom: number): Detail {
  if (zoom * PORT_TYPE_PX >= MIN_TEXT_PX) return "full";
  if (zoom * NODE_TEXT_PX >= MIN_TEXT_PX) return "names";
  return "compact";
}

/** The factor compact labels and edge labels are enlarged by, so they print at least at their zoom-1 size. */
export function textScale(zoom: number): number {
  return Math.min(MAX_TEXT_SCALE, Math.max(1, 1 / zoom));
}
