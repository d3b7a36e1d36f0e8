/**
 * The node palette: every registered node type, grouped by its own category (Evoflow's first,
 * then packages' own), each with its declared colour and icon; searchable; drag one onto the
 * canvas (or double-click). "?" opens the type's help beside the palette (NodeHelp.tsx).
 */
import { useMemo, useState } from "react";
import { lockReason, type NodeTypeInfo } from "./api";
import { PORT_COLORS } from "./graph";
import { NodeHelp } from "./NodeHelp";
import { CATEGORY_ORDER, categoryColor, NodeIcon, nodeColor } from "./node-look";

export const DRAG_TYPE = "application/x-evoflow-node";

export function Palette({ types, onAdd }: { types: NodeTypeInfo[]; onAdd(type: string): void }) {
  const [query, setQuery] = useState("");
  const [collapsed, setCollapsed] = useState(new Set<string>());
  const [help, setHelp] = useState<string>();
  const helpInfo = help === undefined ? undefined : types.find((t) => t.type === help);
  const toggle = (category: string) =>
    setCollapsed((c) => {
      const next = new Set(c);
      if (!next.delete(category)) next.add(category);
      return next;
    });
  const groups = useMemo(() => {
    const q = query.trim().toLowerCase();
    const hits = types.filter((t) => !q || `${t.type} ${t.title} ${t.description} ${t.category} ${t.package ?? ""}`.toLowerCase().includes(q));
    const byCategory = new Map<string, NodeTypeInfo[]>();
    for (const t of hits) byCategory.set(t.category, [...(byCategory.get(t.category) ?? []), t]);
    const rank = (c: string) => (CATEGORY_ORDER.includes(c) ? CATEGORY_ORDER.indexOf(c) : CATEGORY_ORDER.length);
    return [...byCategory.entries()].sort(([a], [b]) => rank(a) - rank(b) || a.localeCompare(b));
  }, [types, query]);

  return (
    <aside className="palette" data-testid="palette">
      <input className="palette-search" placeholder="Search nodes…" value={query} onChange={(e) => setQuery(e.target.value)} data-testid="palette-search" />
      <div className="palette-groups">
        {groups.map(([category, list]) => (
          <section key={category}>
            <h4 className="clickable" onClick={() => toggle(category)} title="show or hide" data-testid={`category-${category}`}>
              {collapsed.has(category) && !query ? "▸" : "▾"} <i className="swatch" style={{ background: categoryColor(category) }} />
              {category} <span className="count">{list.length}</span>
            </h4>
            {(!collapsed.has(category) || query) && list.map((t) => {
              const locked = lockReason(t);
              // Still placeable: the pipeline can be edited and exported for a runtime that grants it.
              return (
                <div
                  key={t.type}
                  className={`palette-item cat-${t.category}${locked ? " locked" : ""}`}
                  style={{ borderLeftColor: nodeColor(t) }}
                  draggable
                  title={locked ? `${locked}\n\n${t.description}` : t.description}
                  data-testid={`palette-${t.type}`}
                  data-locked={locked ? "true" : undefined}
                  onDragStart={(e) => {
                    e.dataTransfer.setData(DRAG_TYPE, t.type);
                    e.dataTransfer.effectAllowed = "move";
                  }}
                  onDoubleClick={() => onAdd(t.type)}
                >
                  <div className="palette-title">
                    <NodeIcon info={t} />
                    <span className="grow">
                      {locked && <span className="lock-mark" data-testid={`lock-${t.type}`} aria-label="locked">🔒 </span>}
                      {t.title}
                    </span>
                    <button type="button" className="help-button" title="help" data-testid={`help-${t.type}`} onClick={() => setHelp(help === t.type ? undefined : t.type)}>
                      ?
                    </button>
                  </div>
                  <div className="palette-type">{t.type}</div>
                </div>
              );
            })}
          </section>
        ))}
        {groups.length === 0 && <div className="muted">No node type matches “{query}”.</div>}
      </div>
      {helpInfo && (
        <div className="palette-help">
          <NodeHelp info={helpInfo} onClose={() => setHelp(undefined)} />
        </div>
      )}
      <div className="legend">
        {Object.entries(PORT_COLORS)
          .filter(([k]) => k !== "sameAs")
          .map(([kind, color]) => (
            <span key={kind}>
              <i style={{ background: color }} /> {kind}
            </span>
          ))}
        <span>
          <i className="line solid" /> sync
        </span>
        <span>
          <i className="line dashed" /> async
        </span>
      </div>
    </aside>
  );
}
