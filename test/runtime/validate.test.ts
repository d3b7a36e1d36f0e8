import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { validatePipeline } from "../../runtime/validate";
import { testNodeTypes } from "./helpers";

const base = { apiVersion: "evoflow/v1", name: "p" };
const problemsOf = (pipeline: unknown) => validatePipeline(pipeline, testNodeTypes).problems;

describe("validatePipeline", () => {
  it("accepts a valid pipeline and compiles its edges with defaults", () => {
    const r = validatePipeline(
      {
        ...base,
        nodes: [{ id: "a", type: "io.http" }, { id: "b", type: "transform.jsonata", config: { expression: "x" } }, { id: "c", type: "io.sink" }],
        edges: [{ from: "a.out", to: "b.in" }, { from: "b.out", to: "c.in", mode: "async", queue: { capacity: 5, overflow: "drop-oldest" } }],
      },
      testNodeTypes,
    );
    expect(r.problems).toEqual([]);
    if (!r.ok) throw new Error("expected ok");
    expect(r.compiled.edges.map((e) => [e.id, e.mode, e.queue.capacity, e.queue.overflow])).toEqual([
      ["a_out-b_in", "sync", 1024, "block"],
      ["b_out-c_in", "async", 5, "drop-oldest"],
    ]);
  });

  it("reports schema errors with their JSON paths", () => {
    const problems = problemsOf({ apiVersion: "evoflow/v2", name: "1bad", nodes: [{ id: "a" }], edges: [{ from: "a", to: "b.in", mode: "later" }] });
    const paths = problems.map((p) => p.path);
    expect(paths).toEqual(expect.arrayContaining(["$.apiVersion", "$.name", "$.nodes[0].type", "$.edges[0].from", "$.edges[0].mode"]));
  });

  it("reports unknown node types, bad configs and duplicate ids together", () => {
    const problems = problemsOf({
      ...base,
      nodes: [
        { id: "a", type: "io.nope" },
        { id: "b", type: "control.batch", config: { size: 0, maxDelayMs: "soon" } },
        { id: "a", type: "io.sink" },
        { id: "j", type: "transform.jsonata", config: { expression: "$sum(" } },
      ],
      edges: [],
    });
    expect(problems).toEqual(
      expect.arrayContaining([
        { path: "$.nodes[0].type", message: expect.stringContaining('unknown node type "io.nope"') },
        { path: "$.nodes[1].config.size", message: expect.any(String) },
        { path: "$.nodes[1].config.maxDelayMs", message: expect.any(String) },
        { path: "$.nodes[2].id", message: 'duplicate node id "a" (first at $.nodes[0])' },
        { path: "$.nodes[3].config.expression", message: expect.stringContaining("JSONata") },
      ]),
    );
    expect(problems).toHaveLength(5);
  });

  it("reports edges to missing nodes and unknown ports, listing the ports there are", () => {
    const problems = problemsOf({
      ...base,
      nodes: [{ id: "a", type: "io.http" }, { id: "b", type: "io.sink" }],
      edges: [{ from: "a.out", to: "ghost.in" }, { from: "a.nope", to: "b.in" }, { from: "a.out", to: "b.input" }],
    });
    expect(problems).toEqual([
      { path: "$.edges[0].to", message: 'no node "ghost" in the pipeline' },
      { path: "$.edges[1].from", message: 'node "a" (io.http) has no output port "nope"; its outputs: out' },
      { path: "$.edges[2].to", message: 'node "b" (io.sink) has no input port "input"; its inputs: in' },
    ]);
  });

  it("reports a port-type mismatch naming both ends and both types", () => {
    const problems = problemsOf({
      ...base,
      nodes: [{ id: "gen", type: "io.generator" }, { id: "t", type: "test.tensorIn" }, { id: "s", type: "transform.set" }],
      edges: [{ from: "gen.out", to: "t.in", mode: "async" }, { from: "t.events", to: "s.in", mode: "async" }],
    });
    expect(problems).toEqual([
      { path: "$.edges[0]", message: "gen.out (record) cannot feed t.in (tensor<float32 [-1,4]>): record cannot feed tensor<float32 [-1,4]>" },
      { path: "$.edges[1]", message: "t.events (event<drift>) cannot feed s.in (record): event<drift> cannot feed record" },
    ]);
  });

  it("resolves sameAs outputs through chains before checking types", () => {
    const pipeline = (to: string) => ({
      ...base,
      nodes: [{ id: "t", type: "test.tensorIn" }, { id: "r1", type: "test.recorder", config: { key: "k" } }, { id: "r2", type: "test.recorder", config: { key: "k" } }, { id: "x", type: to }],
      edges: [{ from: "t.out", to: "r1.in", mode: "async" }, { from: "r1.out", to: "r2.in" }, { from: "r2.out", to: "x.in" }],
    });
    expect(problemsOf(pipeline("test.tensorIn"))).toEqual([]);
    expect(problemsOf(pipeline("transform.set"))).toEqual([
      { path: "$.edges[2]", message: "r2.out (tensor<float32 [-1,4]>) cannot feed x.in (record): tensor<float32 [-1,4]> cannot feed record" },
    ]);
  });

  it("reports a cycle of sync edges but allows one closed by an async edge", () => {
    const nodes = ["a", "b", "c"].map((id) => ({ id, type: "test.recorder", config: { key: id } }));
    const cyclic = problemsOf({ ...base, nodes, edges: [{ from: "a.out", to: "b.in" }, { from: "b.out", to: "c.in" }, { from: "c.out", to: "a.in" }] });
    expect(cyclic).toEqual([{ path: "$.edges[2]", message: expect.stringContaining("sync edges form a cycle: a → b → c → a") }]);
    expect(problemsOf({ ...base, nodes, edges: [{ from: "a.out", to: "b.in" }, { from: "b.out", to: "c.in" }, { from: "c.out", to: "a.in", mode: "async" }] })).toEqual([]);
  });

  it("reports a sync input fed by several sync edges unless it is a join", () => {
    const nodes = [
      { id: "h", type: "io.http" },
      { id: "a", type: "test.recorder", config: { key: "a" } },
      { id: "b", type: "test.recorder", config: { key: "b" } },
      { id: "m", type: "test.recorder", config: { key: "m" } },
      { id: "j", type: "control.join", config: { inputs: ["a", "b"] } },
    ];
    const fanIn = problemsOf({
      ...base, nodes,
      edges: [{ from: "h.out", to: "a.in" }, { from: "h.out", to: "b.in" }, { from: "a.out", to: "m.in" }, { from: "b.out", to: "m.in" }],
    });
    expect(fanIn).toEqual([{ path: "$.edges[3]", message: expect.stringContaining("input m.in is fed by 2 sync edges (a_out-m_in, b_out-m_in) without a join") }]);
    const joined = problemsOf({
      ...base, nodes,
      edges: [{ from: "h.out", to: "a.in" }, { from: "h.out", to: "b.in" }, { from: "a.out", to: "j.a" }, { from: "b.out", to: "j.b" }],
    });
    expect(joined).toEqual([]);
  });

  it("refuses sync edges into a batch and queue settings on sync edges", () => {
    const problems = problemsOf({
      ...base,
      nodes: [{ id: "h", type: "io.http" }, { id: "b", type: "control.batch" }],
      edges: [{ from: "h.out", to: "b.in", queue: { capacity: 3 } }],
    });
    expect(problems.map((p) => p.path)).toEqual(["$.edges[0].queue", "$.edges[0].mode"]);
  });
});

describe("evoflow validate", () => {
  const dir = mkdtempSync(join(tmpdir(), "evoflow-validate-"));
  const cli = (args: string[]) => spawnSync(process.execPath, ["bin/evoflow.js", ...args], { encoding: "utf8" });

  it("exits 0 on valid files and 1 listing every problem as FILE: path: message", () => {
    const good = join(dir, "good.json");
    const bad = join(dir, "bad.json");
    writeFileSync(good, JSON.stringify({ ...base, nodes: [{ id: "h", type: "io.http" }, { id: "s", type: "io.sink" }], edges: [{ from: "h.out", to: "s.in", mode: "async" }] }));
    writeFileSync(bad, JSON.stringify({ ...base, nodes: [{ id: "h", type: "io.http" }, { id: "h", type: "io.nope" }], edges: [{ from: "h.out", to: "x.in" }] }));
    expect(cli(["validate", good]).status).toBe(0);
    const r = cli(["validate", good, bad]);
    expect(r.status).toBe(1);
    expect(r.stdout.trim().split("\n")).toEqual([
      `${bad}: $.nodes[1].id: duplicate node id "h" (first at $.nodes[0])`,
      `${bad}: $.edges[0].to: no node "x" in the pipeline`,
    ]);
  });

  it("reports a file that is not JSON at $", () => {
    const broken = join(dir, "broken.json");
    writeFileSync(broken, "{ nodes: ");
    const r = cli(["validate", broken]);
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(new RegExp(`^${broken}: \\$: not JSON`));
  });

  it("prints the pipeline JSON Schema", () => {
    const schema = JSON.parse(execFileSync(process.execPath, ["bin/evoflow.js", "schema"], { encoding: "utf8" }));
    expect(schema.properties.apiVersion.const).toBe("evoflow/v1");
    expect(schema.required).toEqual(expect.arrayContaining(["apiVersion", "name", "nodes"]));
  });

  it("lists node types with ports and config schema as JSON", () => {
    const nodes = JSON.parse(execFileSync(process.execPath, ["bin/evoflow.js", "nodes", "--json"], { encoding: "utf8" })) as { type: string; inputs: Record<string, { kind: string }>; config: { properties: Record<string, unknown> } }[];
    const batch = nodes.find((n) => n.type === "control.batch")!;
    expect(batch.inputs.in.kind).toBe("any");
    expect(Object.keys(batch.config.properties)).toEqual(["size", "maxDelayMs"]);
  });
});
