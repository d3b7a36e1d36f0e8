/** React side of core/clipboard.ts, on the React Flow store. */
import { useReactFlow } from "@xyflow/react";
import { useCallback, useRef } from "react";
import { copySelection, pasteClip, plural, type Clip } from "../core/clipboard";
import type { FlowEdge, FlowNode } from "../graph";

export function useClipboard(remember: () => void, say: (text: string) => void) {
  const { getNodes, getEdges, setNodes, setEdges } = useReactFlow<FlowNode, FlowEdge>();
  const clipboard = useRef<Clip>(undefined);
  const copy = useCallback(() => {
    const clip = copySelection(getNodes(), getEdges());
    if (!clip) return;
    clipboard.current = clip;
    say(`Copied ${plural(clip.nodes.length, "node")}`);
  }, [getNodes, getEdges, say]);
  const paste = useCallback(() => {
    if (!clipboard.current) return;
    remember();
    const pasted = pasteClip(clipboard.current, getNodes().map((n) => n.id));
    setNodes((ns) => [...ns.map((n) => ({ ...n, selected: false })), ...pasted.nodes]);
    setEdges((es) => [...es.map((e) => ({ ...e, selected: false })), ...pasted.edges]);
    clipboard.current = pasted;
    say(`Pasted ${plural(pasted.nodes.length, "node")}`);
  }, [remember, getNodes, setNodes, setEdges, say]);
  return { copy, paste };
}
