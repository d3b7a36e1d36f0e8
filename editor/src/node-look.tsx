/**
 * How a node type looks in the palette, on the canvas and in its help: its declaration's
 * `color` and `icon` (sdk/contract.ts NodeLook), else its category's colour. Categories are
 * open strings: Evoflow's own have fixed colours and come first; any other gets a colour of its
 * own from its name, so a package's category is told apart without declaring one.
 */
import type { NodeTypeInfo } from "./api";

const CATEGORY_COLORS: Record<string, string> = {
  io: "#1c7ed6",
  transform: "#0ca678",
  model: "#f08c00",
  drift: "#e03131",
  sampler: "#ae3ec9",
  trainer: "#f76707",
  validator: "#2f9e44",
  control: "#495057",
  connectors: "#1098ad",
};

/** Evoflow's categories in the palette's order; others follow alphabetically. */
export const CATEGORY_ORDER = Object.keys(CATEGORY_COLORS);

export function categoryColor(category: string): string {
  const known = CATEGORY_COLORS[category];
  if (known) return known;
  let hash = 0;
  for (const ch of category) hash = (hash * 31 + ch.codePointAt(0)!) >>> 0;
  // A mid lightness keeps white text on it and the border readable on white.
  return `hsl(${hash % 360}, 55%, 42%)`;
}

export function nodeColor(info: Pick<NodeTypeInfo, "color" | "category"> | undefined): string {
  return info?.color ?? categoryColor(info?.category ?? "");
}

/** The node's mark: its icon in its colour, or nothing. */
export function NodeIcon({ info }: { info: Pick<NodeTypeInfo, "icon" | "color" | "category" | "type"> | undefined }) {
  if (!info?.icon) return null;
  return (
    <span className="node-icon" style={{ background: nodeColor(info) }} data-testid={`icon-${info.type}`} aria-hidden="true">
      {info.icon}
    </span>
  );
}
