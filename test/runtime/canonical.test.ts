import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { formatPipeline } from "../../runtime/canonical";

const messy = {
  edges: [
    { mode: "async", to: "s.in", from: "t.out" },
    { to: "t.in", from: "h.out" },
  ],
  nodes: [
    { config: { set: { z: 1, a: { y: 2, b: 3 } } }, type: "transform.set", id: "t", position: { y: 10.4, x: 99.6 } },
    { type: "io.sink", id: "s" },
    { type: "io.http", id: "h" },
  ],
  name: "messy",
  apiVersion: "evoflow/v1",
};

describe("canonical pipeline JSON", () => {
  it("orders keys, nodes and edges stably, rounds positions, ends with a newline", () => {
    const text = formatPipeline(messy);
    const parsed = JSON.parse(text);
    expect(Object.keys(parsed)).toEqual(["apiVersion", "name", "nodes", "edges"]);
    expect(parsed.nodes.map((n: { id: string }) => n.id)).toEqual(["h", "s", "t"]);
    expect(Object.keys(parsed.nodes[2])).toEqual(["id", "type", "position", "config"]);
    expect(parsed.nodes[2].position).toEqual({ x: 100, y: 10 });
    expect(Object.keys(parsed.nodes[2].config.set)).toEqual(["a", "z"]);
    expect(Object.keys(parsed.nodes[2].config.set.a)).toEqual(["b", "y"]);
    expect(parsed.edges.map((e: { from: string }) => e.from)).toEqual(["h.out", "t.out"]);
    expect(text.endsWith("}\n")).toBe(true);
    expect(text).toContain('\n  "name": "messy"');
  });

  it("is a fixed point: formatting canonical text changes nothing, whatever the input order", () => {
    const once = formatPipeline(messy);
    expect(formatPipeline(JSON.parse(once))).toBe(once);
    const shuffled = { ...messy, nodes: [...messy.nodes].reverse(), edges: [...messy.edges].reverse() };
    expect(formatPipeline(shuffled)).toBe(once);
  });

  it("evoflow fmt rewrites a file and --check tells canonical from not", () => {
    const dir = mkdtempSync(join(tmpdir(), "evoflow-fmt-"));
    const file = join(dir, "p.json");
    writeFileSync(file, JSON.stringify(messy));
    const cli = (args: string[]) => spawnSync(process.execPath, ["bin/evoflow.js", ...args], { encoding: "utf8" });
    const check = cli(["fmt", "--check", file]);
    expect(check.status).toBe(1);
    expect(check.stdout).toContain(`${file}: not canonical`);
    expect(readFileSync(file, "utf8")).toBe(JSON.stringify(messy)); // --check changes nothing
    expect(cli(["fmt", file]).status).toBe(0);
    expect(readFileSync(file, "utf8")).toBe(formatPipeline(messy));
    expect(cli(["fmt", "--check", file]).status).toBe(0);
  });
});
