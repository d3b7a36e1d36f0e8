/**
 * Edge bundles for the compact canvas (core/canvas-detail.ts), framework-free: when nodes show no
 * ports, a line per port pair only adds clutter. Edges between the same two nodes become one
 * bundle with a count; where many bundles leave or enter one node they share a trunk at that
 * node, drawn once with the number of edges through it. Also the text of an edge's live
 * figures (rate, drops, queue depth against capacity), shared by single edges and bundles.
 */
import type { EdgeLive } from "./live-status";

export interface BundledEdge {
  id: string;
  source: string;
  target: string;
  /** "sync" | "async"; absent means sync, as in the pipeline file. */
  mode?: string;
}

/** The shared stretch of line at a node where TRUNK_MIN or more bundles meet. */
export interface Trunk {
  /** Edges through the trunk (not bundles). */
  count: number;
  /** The one bundle of the group that draws the trunk and its count. */
  lead: boolean;
}

export interface Bundle {
  /** `source→target`. */
  id: string;
  source: string;
  target: string;
  /** Edge ids, in canvas order. */
  members: string[];
  mode: "sync" | "async" | "mixed";
  sourceTrunk?: Trunk;
  targetTrunk?: Trunk;
}

/** Fewer bundles than this at one node end meet there without a trunk: two lines read fine. */
export const TRUNK_MIN = 3;

export function bundleEdges(edges: readonly BundledEdge[]): Bundle[] {
  const byPair = new Map<string, BundledEdge[]>();
  for (const e of edges) {
    const key = `${e.source}→${e.target}`;
    const list = byPair.get(key);
    if (list) list.push(e);
    else byPair.set(key, [e]);
  }
  const bundles: Bundle[] = [...byPair].map(([key, members]) => {
    const modes = new Set(members.map((m) => m.mode ?? "sync"));
    return {
      id: key,
      source: members[0].source,
      target: members[0].target,
      members: members.map((m) => m.id),
      mode: modes.size > 1 ? "mixed" : (modes.values().next().value as "sync" | "async"),
    };
  });
  addTrunks(bundles, "source", "sourceTrunk");
  addTrunks(bundles, "target", "targetTrunk");
  return bundles;
}

function addTrunks(bundles: Bundle[], end: "source" | "target", field: "sourceTrunk" | "targetTrunk"): void {
  const byNode = new Map<string, Bundle[]>();
  for (const b of bundles) byNode.set(b[end], [...(byNode.get(b[end]) ?? []), b]);
  for (const group of byNode.values()) {
    if (group.length < TRUNK_MIN) continue;
    const count = group.reduce((n, b) => n + b.members.length, 0);
    group.forEach((b, i) => (b[field] = { count, lead: i === 0 }));
  }
}

/** A bundle as one of its members sees it: the first member draws it, the others draw nothing. */
export interface PlacedBundle {
  bundle: Bundle;
  lead: boolean;
}

export function placeBundles(bundles: readonly Bundle[]): Map<string, PlacedBundle> {
  const placed = new Map<string, PlacedBundle>();
  for (const bundle of bundles) bundle.members.forEach((id, i) => placed.set(id, { bundle, lead: i === 0 }));
  return placed;
}

/** How full an async queue is: `high` from 80 %, `full` at capacity (a `block` edge then holds its producer). */
export function queueFill(depth: number, capacity: number | undefined): "ok" | "high" | "full" {
  if (!capacity) return "ok";
  if (depth >= capacity) return "full";
  return depth >= 0.8 * capacity ? "high" : "ok";
}

export interface EdgeFigures {
  /** Messages a second, summed over the members. */
  rate: number;
  dropped: number;
  /** The fullest async queue of the members, if any member is async. */
  queue?: { depth: number; capacity?: number; fill: "ok" | "high" | "full" };
}

/** Live figures of one edge or of a bundle's members; undefined while nothing is deployed. */
export function edgeFigures(lives: readonly (EdgeLive | undefined)[]): EdgeFigures | undefined {
  const known = lives.filter((l): l is EdgeLive => l !== undefined);
  if (!known.length) return undefined;
  const figures: EdgeFigures = { rate: 0, dropped: 0 };
  let fullest = -1;
  for (const l of known) {
    figures.rate += l.rate;
    figures.dropped += l.dropped;
    if (l.mode !== "async") continue;
    const share = l.capacity ? l.depth / l.capacity : l.depth;
    if (share > fullest) {
      fullest = share;
      figures.queue = { depth: l.depth, capacity: l.capacity, fill: queueFill(l.depth, l.capacity) };
    }
  }
  return figures;
}

/** `12/s · 3 dropped` (the queue is shown beside it, in its own colour). */
export function rateText(f: EdgeFigures): string {
  return `${f.rate.toFixed(0)}/s${f.dropped ? ` · ${f.dropped} dropped` : ""}`;
}

/** `queue 40/100`, or `queue 40` when the capacity is not known (an older runtime). */
export function queueText(q: NonNullable<EdgeFigures["queue"]>): string {
  return `queue ${q.depth}${q.capacity ? `/${q.capacity}` : ""}`;
}

interface Point {
  x: number;
  y: number;
}

export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** A left-to-right cubic curve between two node sides, and where its label goes. */
export function bundleCurve(from: Point, to: Point, boxes: readonly Box[]): { d: string; label: Point } {
  const bend = Math.max(Math.abs(to.x - from.x) / 2, 40);
  const c1 = { x: from.x + bend, y: from.y };
  const c2 = { x: to.x - bend, y: to.y };
  const at = (t: number): Point => {
    const u = 1 - t;
    const [a, b, c, d] = [u * u * u, 3 * u * u * t, 3 * u * t * t, t * t * t];
    return { x: a * from.x + b * c1.x + c * c2.x + d * to.x, y: a * from.y + b * c1.y + c * c2.y + d * to.y };
  };
  // The middle, unless a node covers it there (layout places nodes, not lines): then the nearest free point.
  const inside = (p: Point) => boxes.some((b) => p.x > b.x && p.x < b.x + b.width && p.y > b.y && p.y < b.y + b.height);
  let label = at(0.5);
  for (const t of [0.5, 0.4, 0.6, 0.3, 0.7, 0.2, 0.8, 0.1, 0.9]) {
    const p = at(t);
    if (!inside(p)) {
      label = p;
      break;
    }
  }
  return { d: `M ${from.x},${from.y} C ${c1.x},${c1.y} ${c2.x},${c2.y} ${to.x},${to.y}`, label };
}
