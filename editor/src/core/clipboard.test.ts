import { describe, expect, it } from "vitest";
import { makeEdge, type FlowNode } from "../graph";
import { copySelection, pasteClip } from "./clipboard";

const node = (id: string, selected = false): FlowNode => ({ id, type: "evoflow", position: { x: 10, y: 20 }, selected, data: { type: "transform.set", inputs: {}, outputs: {}, extra: {} } });

describe("clipboard", () => {
  it("copies the selected nodes and only the edges between them", () => {
    const nodes = [node("a", true), node("b", true), node("c")];
    const edges = [makeEdge("a", "out", "b", "in", {}), makeEdge("b", "out", "c", "in", {})];
    const clip = copySelection(nodes, edges)!;
    expect(clip.nodes.map((n) => n.id)).toEqual(["a", "b"]);
    expect(clip.edges.map((e) => e.id)).toEqual(["a_out-b_in"]);
    expect(copySelection([node("a")], edges)).toBeUndefined();
  });

  it("pastes with fresh ids, offset and selected, its edges renamed and their explicit ids dropped", () => {
    const clip = { nodes: [node("a", true), node("b", true)], edges: [makeEdge("a", "out", "b", "in", { explicitId: "mine", mode: "async" })] };
    const pasted = pasteClip(clip, ["a", "b", "c"]);
    const ids = pasted.nodes.map((n) => n.id);
    expect(new Set(ids).size).toBe(2);
    for (const id of ids) expect(["a", "b", "c"]).not.toContain(id);
    expect(pasted.nodes.every((n) => n.selected && n.position.x === 50 && n.position.y === 60)).toBe(true);
    expect(pasted.edges).toHaveLength(1);
    expect(pasted.edges[0].source).toBe(ids[0]);
    expect(pasted.edges[0].target).toBe(ids[1]);
    expect(pasted.edges[0].data?.explicitId).toBeUndefined();
    expect(pasted.edges[0].data?.mode).toBe("async");
    // Pasting the paste again moves on and never reuses its ids.
    const again = pasteClip(pasted, ["a", "b", "c", ...ids]);
    expect(again.nodes[0].position).toEqual({ x: 90, y: 100 });
    for (const id of again.nodes.map((n) => n.id)) expect(ids).not.toContain(id);
  });
});
