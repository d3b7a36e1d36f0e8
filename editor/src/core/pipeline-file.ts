/**
 * Opening and saving pipeline files, framework-free (hooks/usePipelineFile.ts wires it to the
 * toolbar): a file's text to canvas nodes and edges (laid out when it has no positions), and the
 * canvas to the canonical file the runtime formats.
 */
import { exportPipeline, fromPipeline, type FlowEdge, type FlowNode, type PipelineDoc } from "../graph";
import type { NodeTypeInfo } from "../api";
import { layoutLeftToRight } from "../layout";

export interface Opened {
  doc: PipelineDoc;
  nodes: FlowNode[];
  edges: FlowEdge[];
  /** For the status line: "Opened x.json: 5 nodes, 4 edges". */
  summary: string;
}

/** A pipeline (parsed JSON) as the canvas shows it. */
export function openPipeline(json: unknown, types: Map<string, NodeTypeInfo>, source: string): Opened {
  const loaded = fromPipeline(json, types);
  const nodes = loaded.needsLayout ? layoutLeftToRight(loaded.nodes, loaded.edges) : loaded.nodes;
  return { doc: loaded.doc, nodes, edges: loaded.edges, summary: `Opened ${source}: ${loaded.nodes.length} nodes, ${loaded.edges.length} edges` };
}

/** A file's text as the canvas shows it; throws the parser's or the reader's reason. */
export function openPipelineText(text: string, types: Map<string, NodeTypeInfo>, name: string): Opened {
  return openPipeline(JSON.parse(text), types, name);
}

/** The file name and canonical text to save for the canvas. */
export async function savedFile(doc: PipelineDoc, nodes: FlowNode[], edges: FlowEdge[]): Promise<{ name: string; text: string }> {
  return { name: `${doc.name}.json`, text: await exportPipeline(doc, nodes, edges) };
}

/** Hands text to the browser as a download. */
export function downloadText(name: string, text: string): void {
  const url = URL.createObjectURL(new Blob([text], { type: "application/json" }));
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}
