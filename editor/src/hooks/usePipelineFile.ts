/** React side of core/pipeline-file.ts: import a file (or a pipeline's JSON) onto the canvas, export the canonical file. */
import { useReactFlow } from "@xyflow/react";
import { useCallback } from "react";
import type { NodeTypeInfo } from "../api";
import { downloadText, openPipeline, openPipelineText, savedFile, type Opened } from "../core/pipeline-file";
import type { FlowEdge, FlowNode, PipelineDoc } from "../graph";

type Say = (text: string, kind?: "info" | "error" | "ok") => void;

export function usePipelineFile(types: Map<string, NodeTypeInfo>, doc: () => PipelineDoc, show: (opened: Opened) => void, say: Say) {
  const { getNodes, getEdges } = useReactFlow<FlowNode, FlowEdge>();
  const load = useCallback((json: unknown, source: string) => show(openPipeline(json, types, source)), [types, show]);
  const importFile = useCallback(
    async (file: File) => {
      try {
        show(openPipelineText(await file.text(), types, file.name));
      } catch (err) {
        say(`Cannot open ${file.name}: ${(err as Error).message}`, "error");
      }
    },
    [types, show, say],
  );
  const exportFile = useCallback(async () => {
    try {
      const { name, text } = await savedFile(doc(), getNodes(), getEdges());
      downloadText(name, text);
      say(`Exported ${name} (canonical, as evoflow fmt writes it)`, "ok");
    } catch (err) {
      say(`Cannot export: ${(err as Error).message}`, "error");
    }
  }, [doc, getNodes, getEdges, say]);
  return { load, importFile, exportFile };
}
