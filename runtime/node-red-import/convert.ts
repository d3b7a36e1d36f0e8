/**
 * Node-RED flows.json → Evoflow pipelines: one per tab, nodes where an exact equivalent exists
 * (mapping.ts), wires as edges, positions kept, and a report line for every node saying what it
 * became or why it was not carried. Pure (no Node.js APIs): `evoflow import` and the API's
 * POST /api/import/node-red run this same code; both validate what it returns.
 */
import { edgeId } from "../../sdk/pipeline";
import { splitSyncFanIn, type ImportedEdge, type ImportedNode } from "./fan-in";
import { flowGraph, type FlowNode } from "./flows";
import { mapNode, type MappingContext, type Mapping } from "./mapping";

export { FlowsError } from "./flows";

export interface ReportLine {
  /** The pipeline (tab) the node was on, when it was on one. */
  pipeline?: string;
  nodeRedId: string;
  nodeRedType: string;
  name?: string;
  /** What it became: an Evoflow node, or what happened to it. */
  mapping: "node" | "resolved" | "dropped" | "not carried";
  /** The Evoflow node id and type it became. */
  id?: string;
  type?: string;
  /** Why (for resolved, dropped, not carried) or what differs (for node). */
  notes: string[];
}

export interface ImportedPipeline {
  name: string;
  /** The tab's label in Node-RED. */
  tab: string;
  pipeline: { apiVersion: "evoflow/v1"; name: string; description: string; nodes: unknown[]; edges: unknown[] };
}

export interface ImportResult {
  pipelines: ImportedPipeline[];
  report: ReportLine[];
}

const NAME_MAX = 128;
/**
 * Node-RED's layout spread out: its nodes are about 120×30 px, the editor's about 245×75 (ports
 * listed), so at the same coordinates neighbours overlap; scaled, the arrangement is the same.
 */
const SPREAD = { x: 2, y: 2.5 };

/** A name Evoflow takes for a node or a pipeline: letters first, then letters, digits, _ and -. */
function slug(text: string, fallback: string): string {
  const s = text.toLowerCase().replace(/[^a-z0-9_-]+/g, "-").replace(/^[^a-z]+/, "").replace(/-+$/, "").slice(0, NAME_MAX - 4);
  return s || fallback;
}

/** `base`, else `base-2`, `base-3`, … : names stay readable and stable for the same file. */
function unique(base: string, taken: Set<string>): string {
  let name = base;
  for (let i = 2; taken.has(name); i++) name = `${base}-${i}`;
  taken.add(name);
  return name;
}

/** Nodes on a path from an `http in` to an `http response`: the edges between them are sync. */
function requestPath(nodes: FlowNode[]): Set<string> {
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const forward = new Set<string>();
  const visit = (id: string) => {
    if (forward.has(id)) return;
    forward.add(id);
    for (const t of byId.get(id)?.wires?.flat() ?? []) visit(t);
  };
  for (const n of nodes) if (n.type === "http in") visit(n.id);
  const reaches = new Set<string>(nodes.filter((n) => n.type === "http response").map((n) => n.id));
  for (let grew = true; grew; ) {
    grew = false;
    for (const n of nodes)
      if (!reaches.has(n.id) && n.wires?.flat().some((t) => reaches.has(t))) {
        reaches.add(n.id);
        grew = true;
      }
  }
  return new Set([...forward].filter((id) => reaches.has(id)));
}

/** Entry point names are the runtime's, across pipelines: a second claim on one gets its method (then a number) added. */
function claimEntrypoint(mapping: Extract<Mapping, { kind: "node" }>, n: FlowNode, taken: Set<string>, pipeline: string): void {
  const wanted = String(mapping.config.name ?? pipeline);
  if (!taken.has(wanted)) return void taken.add(wanted);
  const name = unique(`${wanted}-${String(n.method ?? "get").toLowerCase()}`, taken);
  mapping.config = { ...mapping.config, name };
  mapping.notes = [...mapping.notes.filter((note) => !note.startsWith("answers POST")), `answers POST /pipelines/${name} (${wanted} is another http in's)`];
}

export interface ImportOptions extends MappingContext {
  /** Pipeline name for a tab with no label (the shipped examples have none): the file's name. */
  fallbackName?: string;
}

export function importNodeRedFlows(flows: unknown, options: ImportOptions): ImportResult {
  const graph = flowGraph(flows);
  const report: ReportLine[] = [];
  const pipelines: ImportedPipeline[] = [];
  const pipelineNames = new Set<string>();
  const tabName = new Map<string, string>();
  const entrypoints = new Set<string>();
  for (const [tab, label] of graph.tabs) {
    const fromLabel = label === tab ? (options.fallbackName ?? "flow") : label;
    tabName.set(tab, unique(slug(fromLabel, "flow"), pipelineNames));
  }
  for (const r of graph.resolved)
    report.push({ pipeline: r.tab && tabName.get(r.tab), nodeRedId: r.node.id, nodeRedType: r.node.type, name: r.node.name || undefined, mapping: r.how, notes: [r.why] });

  for (const [tab, tabLabel] of graph.tabs) {
    const name = tabName.get(tab)!;
    const label = tabLabel === tab ? (options.fallbackName ?? name) : tabLabel;
    const tabNodes = [...graph.nodes.values()].filter((n) => n.z === tab);
    const sync = requestPath(tabNodes);
    const ids = new Set<string>();
    const mapped = new Map<string, { id: string; mapping: Extract<Mapping, { kind: "node" }> }>();
    const nodes: ImportedNode[] = [];
    for (const n of tabNodes) {
      const mapping = mapNode(n, { ...options, configNode: (id) => graph.configNodes.get(id) });
      const line: ReportLine = { pipeline: name, nodeRedId: n.id, nodeRedType: n.type, name: n.name || undefined, mapping: mapping.kind, notes: [] };
      report.push(line);
      if (mapping.kind !== "node") {
        line.notes.push(mapping.why);
        continue;
      }
      if (mapping.type === "io.http") claimEntrypoint(mapping, n, entrypoints, name);
      const id = unique(slug(n.name ?? "", slug(mapping.type.split(".")[1] ?? mapping.type, "node")), ids);
      Object.assign(line, { id, type: mapping.type, notes: mapping.notes });
      mapped.set(n.id, { id, mapping });
      const position = typeof n.x === "number" && typeof n.y === "number" ? { x: n.x * SPREAD.x, y: n.y * SPREAD.y } : undefined;
      nodes.push({ id, type: mapping.type, ...(n.name ? { title: n.name } : {}), ...(position ? { position } : {}), config: mapping.config });
    }
    const edges: ImportedEdge[] = [];
    for (const n of tabNodes) {
      const from = mapped.get(n.id);
      if (!from) continue;
      (n.wires ?? []).forEach((targets, k) => {
        const port = from.mapping.ports[k];
        for (const t of targets) {
          const to = mapped.get(t);
          if (!to || !port) continue;
          edges.push({ from: `${from.id}.${port}`, to: `${to.id}.in`, mode: sync.has(n.id) && sync.has(t) ? "sync" : "async" });
        }
      });
    }
    for (const [id, made] of splitSyncFanIn(nodes, edges, (base) => unique(base, ids)))
      report
        .find((l) => l.pipeline === name && l.id === id)
        ?.notes.push(`fed by ${made.length + 1} branches of the request path: copied for each (${made.join(", ")}), as an Evoflow input takes one sync edge`);
    // A debug's note names the edges that show what it showed.
    for (const line of report.filter((l) => l.pipeline === name && l.nodeRedType === "debug")) {
      const feeders = tabNodes.filter((n) => n.wires?.flat().includes(line.nodeRedId)).flatMap((n) => mapped.get(n.id)?.id ?? []);
      for (const id of feeders) {
        const taps = edges.filter((e) => e.from.startsWith(`${id}.`)).map((e) => edgeId(e));
        line.notes.push(taps.length ? `it showed ${id}'s output: tap ${taps.join(" or ")}` : `it showed ${id}'s output, which ends its path: \`evoflow trace\` shows it`);
      }
    }
    pipelines.push({
      name,
      tab: label,
      pipeline: { apiVersion: "evoflow/v1", name, description: `Imported from Node-RED flow "${label}"`, nodes, edges },
    });
  }
  return { pipelines, report };
}

/** The report as text, one line per Node-RED node, with what was not carried counted at the end. */
export function formatReport(result: ImportResult): string {
  const lines = result.report.map((l) => {
    const what = `${l.nodeRedType}${l.name ? ` "${l.name}"` : ""} (${l.nodeRedId})`;
    const to = l.mapping === "node" ? `→ ${l.type} ${l.id}` : l.mapping;
    return `${l.pipeline ?? "-"}: ${what} ${to}${l.notes.length ? `: ${l.notes.join("; ")}` : ""}`;
  });
  const missing = result.report.filter((l) => l.mapping === "not carried").length;
  lines.push(`${result.pipelines.length} pipeline${result.pipelines.length === 1 ? "" : "s"}; ${result.report.length} Node-RED nodes, ${missing} not carried`);
  return `${lines.join("\n")}\n`;
}
