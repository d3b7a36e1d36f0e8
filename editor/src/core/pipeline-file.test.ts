import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import type { NodeTypeInfo } from "../api";
import { openPipeline, openPipelineText } from "./pipeline-file";

const types = new Map<string, NodeTypeInfo>();

describe("pipeline files", () => {
  it("opens an example pipeline with its positions and ids", () => {
    const text = readFileSync(new URL("../../../pipelines/hello-http.json", import.meta.url), "utf8");
    const json = JSON.parse(text);
    const opened = openPipelineText(text, types, "hello-http.json");
    expect(opened.doc.name).toBe(json.name);
    expect(opened.nodes.map((n) => n.id).sort()).toEqual(json.nodes.map((n: { id: string }) => n.id).sort());
    expect(opened.summary).toBe(`Opened hello-http.json: ${json.nodes.length} nodes, ${json.edges.length} edges`);
  });

  it("lays out a pipeline without positions, left to right", () => {
    const opened = openPipeline(
      { apiVersion: "evoflow/v1", name: "p", nodes: [{ id: "a", type: "x" }, { id: "b", type: "x" }], edges: [{ from: "a.out", to: "b.in" }] },
      types,
      "p",
    );
    const [a, b] = ["a", "b"].map((id) => opened.nodes.find((n) => n.id === id)!);
    expect(b.position.x).toBeGreaterThan(a.position.x);
  });

  it("refuses text that is not a pipeline, with the reason", () => {
    expect(() => openPipelineText("{ nope", types, "bad.json")).toThrow(SyntaxError);
    expect(() => openPipelineText("[1]", types, "list.json")).toThrow("a pipeline file holds a JSON object");
  });
});
