/**
 * The runtime's checker on the canvas: the document is validated 300 ms after each change that
 * is not a move, and problems are placed on the nodes and edges their JSON paths name.
 */
import { useReactFlow } from "@xyflow/react";
import { useCallback, useEffect, useRef, useState } from "react";
import { api, type Problem } from "../api";
import { emptyProblems } from "../context";
import { placeProblems, toPipeline, type FlowEdge, type FlowNode, type PipelineDoc, type PlacedProblems } from "../graph";

/** The pipeline without positions: moving a node needs no new check. */
const signatureOf = (json: Record<string, unknown>) => JSON.stringify({ ...json, nodes: (json.nodes as Record<string, unknown>[]).map(({ position: _p, ...n }) => n) });

export function useValidation(doc: PipelineDoc, docNow: () => PipelineDoc, nodes: FlowNode[], edges: FlowEdge[], say: (text: string, kind: "error") => void) {
  const { getNodes, getEdges } = useReactFlow<FlowNode, FlowEdge>();
  const [problems, setProblems] = useState<PlacedProblems>(emptyProblems);
  const validatedSignature = useRef("");
  const problemsKey = useRef("[]");
  /** Shows these problems (none: clears them); unchanged problems keep the same object, so 500 nodes do not re-render for nothing. */
  const showProblems = useCallback((list: Problem[], nodeIds: string[] = [], edgeIds: string[] = []) => {
    const key = JSON.stringify(list);
    if (key === problemsKey.current) return;
    problemsKey.current = key;
    setProblems(list.length ? placeProblems(list, nodeIds, edgeIds) : emptyProblems());
  }, []);
  const validateNow = useCallback(async () => {
    const { json, nodeIds, edgeIds } = toPipeline(docNow(), getNodes(), getEdges());
    const signature = signatureOf(json);
    validatedSignature.current = signature;
    const result = await api.validate(json);
    if (validatedSignature.current !== signature) return undefined; // a newer edit is being checked
    showProblems(result.problems, nodeIds, edgeIds);
    return result;
  }, [docNow, getNodes, getEdges, showProblems]);
  useEffect(() => {
    const timer = setTimeout(() => {
      if (signatureOf(toPipeline(doc, nodes, edges).json) !== validatedSignature.current) validateNow().catch((err: Error) => say(`validate: ${err.message}`, "error"));
    }, 300);
    return () => clearTimeout(timer);
  }, [doc, nodes, edges, validateNow, say]);
  return { problems, showProblems, validateNow };
}
