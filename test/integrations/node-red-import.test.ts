/**
 * `evoflow import flows.json`: every example flow shipped with the real @node-red/nodes 4.x
 * imports into pipelines that validate, with a report line for each of its nodes; a hand-written
 * flow with a subflow, a link pair, a link to another tab and an unknown node type reports each;
 * the CLI writes `evoflow fmt`'s canonical form and says it validated.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { formatPipeline } from "../../runtime/canonical";
import { FlowsError, importNodeRedFlows, type ImportResult } from "../../runtime/node-red-import/convert";
import { mappingContext } from "../../runtime/node-red-import/context";
import { nodeTypes } from "../../runtime/node-types";
import { validatePipeline } from "../../runtime/validate";
import { tempDir } from "../agent/helpers";
import { evoflowOnce } from "../nats/cli";
import { ROOT } from "./node-red";

const EXAMPLES = join(ROOT, "node_modules/@node-red/nodes/examples");
const FLOWS = join(import.meta.dirname, "node-red-flows");
const context = mappingContext(nodeTypes);

function jsonFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((e) => {
    const p = join(dir, e);
    return statSync(p).isDirectory() ? jsonFiles(p) : e.endsWith(".json") ? [p] : [];
  });
}

const read = (file: string) => JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown>[];
const line = (result: ImportResult, id: string) => {
  const found = result.report.filter((l) => l.nodeRedId === id);
  expect(found, id).toHaveLength(1);
  return found[0];
};

describe("evoflow import of Node-RED flows", () => {
  it("imports every example flow of @node-red/nodes into pipelines that validate, reporting each node", () => {
    const files = jsonFiles(EXAMPLES);
    expect(files.length).toBeGreaterThan(100);
    const kinds = new Set<string>();
    for (const file of files) {
      const flows = read(file);
      const result = importNodeRedFlows(flows, { ...context, fallbackName: "example" });
      for (const { pipeline } of result.pipelines) {
        const checked = validatePipeline(pipeline, nodeTypes);
        expect(checked.problems, `${file}: ${pipeline.name}`).toEqual([]);
      }
      const subflows = new Set(flows.filter((n) => n.type === "subflow").map((n) => n.id));
      for (const n of flows) {
        if (n.type === "tab" || n.type === "subflow" || subflows.has(n.z)) continue;
        const l = line(result, String(n.id));
        kinds.add(l.mapping);
        // Whatever it became, the report says why or what differs, except an exact match.
        if (l.mapping !== "node") expect(l.notes.join(""), `${file}: ${String(n.type)}`).not.toBe("");
      }
    }
    expect([...kinds].sort()).toEqual(["dropped", "node", "not carried", "resolved"]);
  });

  it("resolves a subflow and a link pair, and reports a link to another tab and an unknown node type", () => {
    const result = importNodeRedFlows(read(join(FLOWS, "subflow-link-unknown.json")), context);
    expect(result.pipelines.map((p) => p.name)).toEqual(["scoring-service", "other-tab"]);
    expect(line(result, "tag")).toMatchObject({ mapping: "resolved", notes: [expect.stringContaining('subflow "Tag it" inlined')] });
    expect(line(result, "tag-sf-set")).toMatchObject({ mapping: "node", type: "transform.set", id: "tagged", pipeline: "scoring-service" });
    expect(line(result, "lout").mapping).toBe("resolved");
    expect(line(result, "lin").mapping).toBe("resolved");
    expect(line(result, "away")).toMatchObject({ mapping: "not carried", notes: [expect.stringContaining("another tab")] });
    expect(line(result, "mystery")).toMatchObject({ mapping: "not carried", notes: [expect.stringContaining('"acme-widget"')] });
    // Not carried natively: hosted as Node-RED's own change node, the native reason kept.
    expect(line(result, "env")).toMatchObject({ mapping: "node", type: "node-red.change", notes: [expect.stringMatching(/^hosted on the embedded Node-RED runtime .*type "env"/)] });
    expect(line(result, "log")).toMatchObject({ mapping: "dropped", notes: [expect.stringContaining("tapped"), expect.stringContaining("it showed low's output")] });
    expect(line(result, "high").notes).toContainEqual(expect.stringContaining("msg.topic) left out"));
    const scoring = result.pipelines[0].pipeline;
    // http in → subflow's change → (link out … link in) → switch → change: sync all the way.
    expect(scoring.edges).toEqual(
      expect.arrayContaining([
        { from: "score.out", to: "tagged.in", mode: "sync" },
        { from: "tagged.out", to: "by-level.in", mode: "sync" },
        { from: "by-level.out1", to: "high.in", mode: "sync" },
        { from: "by-level.out2", to: "low.in", mode: "sync" },
      ]),
    );
    expect(scoring.edges).toHaveLength(4);
    expect(scoring.nodes).toContainEqual(expect.objectContaining({ id: "score", type: "io.http", position: { x: 200, y: 200 }, config: { name: "score" } }));
    expect(scoring.nodes).toContainEqual(
      expect.objectContaining({ id: "by-level", config: { rules: [{ when: '$type(level) = "number" and level >= 5', port: "out1" }], otherwise: "out2", mode: "first" } }),
    );
    expect(validatePipeline(scoring, nodeTypes).problems).toEqual([]);
  });

  it("inlines a subflow inside a subflow, and reports one that contains itself", () => {
    const set = (id: string, z: string, field: string) => ({ id, type: "change", z, name: field, rules: [{ t: "set", p: `payload.${field}`, pt: "msg", to: "1", tot: "num" }], wires: [[]] });
    const result = importNodeRedFlows(
      [
        { id: "t", type: "tab", label: "nested" },
        { id: "A", type: "subflow", name: "A", in: [{ wires: [{ id: "a1" }] }], out: [{ wires: [{ id: "a1", port: 0 }] }] },
        set("a1", "A", "a"),
        { id: "B", type: "subflow", name: "B", in: [{ wires: [{ id: "b1" }] }], out: [{ wires: [{ id: "bA", port: 0 }] }] },
        { ...set("b1", "B", "b"), wires: [["bA"]] },
        { id: "bA", type: "subflow:A", z: "B", wires: [[]] },
        { id: "L", type: "subflow", name: "loop", in: [{ wires: [{ id: "lL" }] }], out: [] },
        { id: "lL", type: "subflow:L", z: "L", wires: [[]] },
        { id: "in", type: "http in", z: "t", url: "/n", method: "post", wires: [["useB"]] },
        { id: "useB", type: "subflow:B", z: "t", wires: [["last"]] },
        { ...set("last", "t", "c"), wires: [["out"]] },
        { id: "out", type: "http response", z: "t", wires: [] },
        { id: "useL", type: "subflow:L", z: "t", wires: [] },
      ],
      context,
    );
    const { pipeline } = result.pipelines[0];
    expect(pipeline.edges).toEqual([
      { from: "http.out", to: "b.in", mode: "sync" },
      { from: "b.out", to: "a.in", mode: "sync" },
      { from: "a.out", to: "c.in", mode: "sync" },
    ]);
    expect(line(result, "useB-bA-a1")).toMatchObject({ mapping: "node", id: "a" });
    expect(line(result, "useL").mapping).toBe("resolved");
    expect(line(result, "useL-lL")).toMatchObject({ mapping: "not carried", notes: ["the subflow contains itself"] });
    expect(validatePipeline(pipeline, nodeTypes).problems).toEqual([]);
  });

  it("carries JSONata that reads msg.payload alone, and reports JSONata reading more of msg", () => {
    const change = (id: string, to: string) => ({ id, type: "change", z: "t", rules: [{ t: "set", p: "payload", pt: "msg", to, tot: "jsonata" }], wires: [[]] });
    const result = importNodeRedFlows(
      [
        { id: "t", type: "tab", label: "j" },
        change("sum", "$sum(payload.x[y > 1].z)"),
        change("topic", 'payload & topic'),
        change("flow", '$flowContext("n") + 1'),
        change("root", "$$.payload"),
        { id: "sw", type: "switch", z: "t", property: "$count(payload)", propertyType: "jsonata", rules: [{ t: "gt", v: "2", vt: "num" }], checkall: "true", outputs: 1, wires: [[]] },
      ],
      context,
    );
    const nodes = result.pipelines[0].pipeline.nodes as { id: string; type: string; config: Record<string, unknown> }[];
    expect(nodes.filter((n) => n.type !== "node-red.change").map((n) => [n.id, n.config])).toEqual([
      ["jsonata", { expression: "($nodeRedPayload := $; $nodeRedPayload := $sum($nodeRedPayload.x[y > 1].z); $nodeRedPayload)" }],
      ["switch", { rules: [{ when: '$type(($count($))) = "number" and ($count($)) > 2', port: "out1" }], otherwise: "unmatched", mode: "all" }],
    ]);
    // JSONata reading more than msg.payload runs in Node-RED's own change node, hosted, with its rules as they were.
    expect(nodes.filter((n) => n.type === "node-red.change").map((n) => n.config.rules)).toEqual(["topic", "flow", "root"].map(() => [expect.objectContaining({ t: "set", tot: "jsonata" })]));
    expect(line(result, "topic").notes).toEqual([expect.stringContaining("reads msg.topic")]);
    expect(line(result, "flow").notes).toEqual([expect.stringContaining("calls $flowContext, which only Node-RED has")]);
    expect(line(result, "root").notes).toEqual([expect.stringContaining("reads msg itself")]);
    expect(validatePipeline(result.pipelines[0].pipeline, nodeTypes).problems).toEqual([]);
  });

  it("refuses what is not a flows.json with the JSON path", () => {
    expect(() => importNodeRedFlows({ nodes: [] }, context)).toThrow(new FlowsError("$", "a flows.json is an array of nodes"));
    expect(() => importNodeRedFlows([{ id: "a", type: "debug" }, { id: "a", type: "debug" }], context)).toThrow("$[1].id: id a is used twice");
    expect(() => importNodeRedFlows([{ id: "a", type: "debug", wires: [1] }], context)).toThrow("$[0].wires:");
  });

  it("writes each tab as a canonical pipeline file and says it validated", async () => {
    const out = tempDir("node-red-import");
    const run = await evoflowOnce(["import", join(FLOWS, "subflow-link-unknown.json"), "--out", out]);
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`wrote ${join(out, "scoring-service.json")} (validates)`);
    expect(run.stdout).toContain("scoring-service: acme-widget \"acme\" (mystery) not carried: no native Evoflow node");
    expect(run.stdout).toContain("other-tab: change \"from env\" (env) → node-red.change from-env: hosted on the embedded Node-RED runtime");
    expect(run.stdout).toContain("2 pipelines; 14 Node-RED nodes, 2 not carried");
    for (const name of ["scoring-service", "other-tab"]) {
      const text = readFileSync(join(out, `${name}.json`), "utf8");
      expect(formatPipeline(JSON.parse(text))).toBe(text);
    }
    const bad = await evoflowOnce(["import", join(ROOT, "package.json"), "--out", out]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("$: a flows.json is an array of nodes");
  });
});
