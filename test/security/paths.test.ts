/**
 * Config paths are confined to the pipeline's data folder (<data>/<pipeline>): every path field
 * of every node type — enumerated from the declarations, so a new one is covered without
 * editing this file — refuses `..` that climbs out and absolute paths, in validate, in deploy
 * and through the HTTP API, each at its JSON path. On disk, symlinks are followed: one leading
 * out is refused at deploy, and one planted after deploy dead-letters the message while the
 * pipeline keeps serving.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { createApi } from "../../runtime/api/server";
import { configPathFields, configPathValues } from "../../runtime/confined-path";
import { configPath } from "../../sdk";
import { defineNode } from "../../sdk/contract";
import { NodeTypes, nodeTypes } from "../../runtime/node-types";
import { FsModelRegistry } from "../../runtime/registry/fs";
import { PipelineInvalidError, Runtime } from "../../runtime/runtime";
import { jsonPath, validatePipeline, type Problem } from "../../runtime/validate";

const pipeline = (name: string, nodes: unknown[], edges: unknown[] = []) => ({ apiVersion: "evoflow/v1", name, nodes, edges });

const FIELDS = nodeTypes.list().flatMap((def) => configPathFields(def.config).map((field) => ({ type: def.type, field })));
const ESCAPES = ["../x", "a/../../x", "/etc/passwd", "/tmp/evoflow-outside.jsonl", "..\\..\\x"];
const CASES = FIELDS.flatMap(({ type, field }) => ESCAPES.map((bad) => ({ type, field, bad, at: jsonPath(["nodes", 0, "config", ...field.at]) })));
const REFUSAL = /absolute paths are not allowed|leaves the pipeline's data folder/;

const problemAt = (problems: Problem[], at: string) => problems.find((p) => p.path === at);

describe("path fields", () => {
  it("are declared for every config field that names a file or folder", () => {
    expect(FIELDS.map(({ type, field }) => `${type}:${field.name}`)).toEqual(expect.arrayContaining(["io.sink:path", "io.generator:source.path", "validator.gate:golden"]));
    // A string field that looks like a file or folder but is not declared with configPath would escape every check below.
    const undeclared: string[] = [];
    const walk = (type: string, schema: Record<string, unknown> | undefined, name: string) => {
      if (!schema || typeof schema !== "object") return;
      const looksLikePath = /path|file|folder|dir$/i.test(name) || /^(file|folder)\b/i.test(String(schema.description ?? ""));
      if (schema.type === "string" && looksLikePath && !schema.evoflowPath) undeclared.push(`${type}:${name}`);
      for (const [k, v] of Object.entries((schema.properties ?? {}) as Record<string, Record<string, unknown>>)) walk(type, v, name ? `${name}.${k}` : k);
      for (const k of ["anyOf", "oneOf", "allOf"]) for (const v of (schema[k] ?? []) as Record<string, unknown>[]) walk(type, v, name);
      walk(type, schema.items as Record<string, unknown> | undefined, name);
    };
    for (const t of nodeTypes.describe()) walk(t.type, t.config as Record<string, unknown>, "");
    expect(undeclared).toEqual([]);
  });

  it("are listed by /api/nodes' description with their kind and access", () => {
    const sink = nodeTypes.describe().find((t) => t.type === "io.sink")!;
    expect(sink.paths).toEqual([{ field: "path", kind: "file", access: "write" }]);
    // The editor's property form sees the same in the JSON Schema.
    expect(JSON.stringify(sink.config)).toContain('"evoflowPath":{"kind":"file","access":"write"}');
  });

  it.each(CASES)("validate refuses $type $field.name = $bad at its JSON path", ({ type, field, bad, at }) => {
    const result = validatePipeline(pipeline("confined", [{ id: "n", type, config: field.place(bad) }]), nodeTypes);
    expect(result.ok).toBe(false);
    expect(problemAt(result.problems, at)?.message).toMatch(REFUSAL);
  });

  it("accepts paths that stay inside, `..` included", () => {
    for (const path of ["out.jsonl", "logs/today/out.jsonl", "a/../out.jsonl", "./out.jsonl"]) {
      const result = validatePipeline(pipeline("confined", [{ id: "n", type: "io.sink", config: { kind: "jsonl", path } }]), nodeTypes);
      expect(result.problems, path).toEqual([]);
    }
  });

  it("refuses /etc/passwd as an io.generator file", () => {
    const result = validatePipeline(pipeline("confined", [{ id: "gen", type: "io.generator", config: { source: { kind: "csv", path: "/etc/passwd" } } }]), nodeTypes);
    expect(result.problems).toEqual([{ path: "$.nodes[0].config.source.path", message: expect.stringMatching(/absolute paths are not allowed/) }]);
  });
});

describe("path fields nested in arrays, records and defaults", () => {
  const file = (access: "read" | "write") => configPath({ kind: "file", access, describe: "A file" });
  const nested = defineNode({
    type: "test.paths",
    category: "io",
    title: "Paths",
    description: "Paths in every shape a config can hold them",
    inputs: {},
    outputs: {},
    config: z.object({
      files: z.array(z.object({ path: file("read") })).default([]),
      byName: z.record(z.string(), file("read")).optional(),
      out: z.object({ inner: file("write").default("out/default.jsonl") }).default({ inner: "out/default.jsonl" }),
    }),
    create: () => ({}),
  });
  const types = new NodeTypes([nested]);

  it("are enumerated with a config that reaches each", () => {
    const fields = configPathFields(nested.config);
    expect(fields.map((f) => [f.name, f.at])).toEqual([["files[].path", ["files", 0, "path"]], ["byName.x", ["byName", "x"]], ["out.inner", ["out", "inner"]]]);
    expect(fields.map((f) => f.place("p"))).toEqual([{ files: [{ path: "p" }] }, { byName: { x: "p" } }, { out: { inner: "p" } }]);
  });

  it("are refused at their JSON paths by validate", () => {
    const config = { files: [{ path: "in.jsonl" }, { path: "../x" }], byName: { a: "/etc/shadow" }, out: { inner: "a/../../b" } };
    const result = validatePipeline(pipeline("nested", [{ id: "n", type: "test.paths", config }]), types);
    expect(result.problems.map((p) => p.path).sort()).toEqual(["$.nodes[0].config.byName.a", "$.nodes[0].config.files[1].path", "$.nodes[0].config.out.inner"]);
  });

  it("are found in a parsed config, defaults included", () => {
    const parsed = nested.config.parse({ files: [{ path: "a.jsonl" }], byName: { b: "b.jsonl" } });
    expect(configPathValues(nested.config, parsed).map((v) => [v.at, v.value])).toEqual([
      [["files", 0, "path"], "a.jsonl"],
      [["byName", "b"], "b.jsonl"],
      [["out", "inner"], "out/default.jsonl"],
    ]);
  });
});

describe("deploy", () => {
  let dir: string;
  let outside: string;
  let runtime: Runtime;
  let app: FastifyInstance;
  let url: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "evoflow-paths-"));
    outside = join(dir, "outside");
    mkdirSync(outside);
    // The gate needs a registry: a runtime without one refuses it before looking at paths.
    runtime = new Runtime({ dataDir: join(dir, "data"), services: { registry: new FsModelRegistry(join(dir, "registry")) } });
    app = await createApi({ runtime });
    url = await app.listen({ port: 0, host: "127.0.0.1" });
  });

  afterAll(async () => {
    await app?.close();
    await runtime?.close();
  });

  it.each(CASES)("Runtime.deploy refuses $type $field.name = $bad", async ({ type, field, bad, at }) => {
    const err = await runtime.deploy(pipeline("confined", [{ id: "n", type, config: field.place(bad) }])).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PipelineInvalidError);
    expect(problemAt((err as PipelineInvalidError).problems, at)?.message).toMatch(REFUSAL);
    expect(runtime.get("confined")).toBeUndefined();
  });

  it.each(CASES)("POST /api/pipelines refuses $type $field.name = $bad with 400", async ({ type, field, bad, at }) => {
    const res = await app.inject({ method: "POST", url: "/api/pipelines", headers: { "content-type": "application/json" }, payload: pipeline("confined", [{ id: "n", type, config: field.place(bad) }]) });
    expect(res.statusCode).toBe(400);
    expect(problemAt(res.json().problems, at)?.message).toMatch(REFUSAL);
  });

  it("refuses an io.generator reading /etc/passwd over real HTTP, in validate and in deploy", async () => {
    const body = JSON.stringify(pipeline("passwd", [{ id: "gen", type: "io.generator", config: { source: { kind: "csv", path: "/etc/passwd" } } }]));
    const headers = { "content-type": "application/json" };
    const validated = await (await fetch(`${url}/api/validate`, { method: "POST", headers, body })).json();
    expect(validated).toMatchObject({ ok: false, problems: [{ path: "$.nodes[0].config.source.path" }] });
    const deployed = await fetch(`${url}/api/pipelines`, { method: "POST", headers, body });
    expect(deployed.status).toBe(400);
    expect((await deployed.json()).problems).toEqual([{ path: "$.nodes[0].config.source.path", message: expect.stringMatching(/absolute paths/) }]);
    expect(runtime.get("passwd")).toBeUndefined();
  });

  it("refuses at deploy a symlink inside the data folder that leads out (to /etc/passwd, to a folder outside)", async () => {
    const folder = join(dir, "data", "linked");
    mkdirSync(folder, { recursive: true });
    symlinkSync("/etc/passwd", join(folder, "passwd"));
    symlinkSync(outside, join(folder, "out"));
    symlinkSync(join(outside, "not-yet"), join(folder, "dangling.jsonl"));
    const err = (await runtime
      .deploy(
        pipeline("linked", [
          { id: "gen", type: "io.generator", config: { source: { kind: "csv", path: "passwd" } } },
          { id: "sink", type: "io.sink", config: { kind: "jsonl", path: "out/x.jsonl" } },
          { id: "ghost", type: "io.sink", config: { kind: "jsonl", path: "dangling.jsonl" } },
          { id: "gate", type: "validator.gate", config: { golden: "out" } },
        ], [{ from: "gen.out", to: "sink.in", mode: "async" }]),
      )
      .catch((e: unknown) => e)) as PipelineInvalidError;
    expect(err).toBeInstanceOf(PipelineInvalidError);
    expect(err.problems).toEqual([
      { path: "$.nodes[0].config.source.path", message: expect.stringMatching(/symbolic link/) },
      { path: "$.nodes[1].config.path", message: expect.stringMatching(/symbolic link/) },
      { path: "$.nodes[2].config.path", message: expect.stringMatching(/symbolic link whose target does not exist/) },
      { path: "$.nodes[3].config.golden", message: expect.stringMatching(/symbolic link/) },
    ]);
    expect(readdirSync(outside)).toEqual([]);
  });

  it("dead-letters a message whose sink path a symlink planted after deploy leads out, and keeps serving", async () => {
    const name = "planted";
    const running = await runtime.deploy(
      pipeline(name, [
        { id: "bad", type: "io.http", config: { name: "planted-bad" } },
        { id: "good", type: "io.http", config: { name: "planted-good" } },
        { id: "badSink", type: "io.sink", config: { kind: "jsonl", path: "logs/x.jsonl" } },
        { id: "goodSink", type: "io.sink", config: { kind: "jsonl", path: "good.jsonl" } },
      ], [
        { from: "bad.out", to: "badSink.in" },
        { from: "good.out", to: "goodSink.in" },
      ]),
    );
    const folder = join(dir, "data", name);
    symlinkSync(outside, join(folder, "logs"));
    const post = (entry: string, body: unknown) => fetch(`${url}/pipelines/${entry}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });

    const refused = await post("planted-bad", { n: 1 });
    expect(refused.status).toBe(422);
    expect(await refused.json()).toMatchObject({ node: "badSink", error: expect.stringMatching(/logs\/x\.jsonl.*leaves the pipeline's data folder through a symbolic link/) });
    expect(running.deadLetters.toArray()).toEqual([expect.objectContaining({ node: "badSink", reason: expect.stringMatching(/symbolic link/), message: expect.objectContaining({ payload: { n: 1 } }) })]);
    expect(existsSync(join(outside, "x.jsonl"))).toBe(false);

    // The pipeline still serves: the other entry point writes, and once the link is a real folder the first one does too.
    expect((await post("planted-good", { n: 2 })).status).toBe(204);
    rmSync(join(folder, "logs"));
    mkdirSync(join(folder, "logs"));
    expect((await post("planted-bad", { n: 3 })).status).toBe(204);
    await runtime.undeploy(name); // flushes the sinks
    expect(readFileSync(join(folder, "good.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l).payload)).toEqual([{ n: 2 }]);
    expect(readFileSync(join(folder, "logs", "x.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l).payload)).toEqual([{ n: 3 }]);
    expect(readdirSync(outside)).toEqual([]);
  });

  it("refuses at deploy a file or folder to read that is not in the data folder", async () => {
    const err = (await runtime
      .deploy(pipeline("missing", [
        { id: "gen", type: "io.generator", config: { source: { kind: "jsonl", path: "rows.jsonl" } } },
        { id: "gate", type: "validator.gate", config: { golden: "golden" } },
      ]))
      .catch((e: unknown) => e)) as PipelineInvalidError;
    expect(err.problems).toEqual([
      { path: "$.nodes[0].config.source.path", message: 'path "rows.jsonl": no such file or folder in the pipeline\'s data folder' },
      { path: "$.nodes[1].config.golden", message: 'path "golden": no such file or folder in the pipeline\'s data folder' },
    ]);
  });

  it("reads generator files relative to the pipeline's data folder", async () => {
    const folder = join(dir, "data", "reader");
    mkdirSync(join(folder, "in"), { recursive: true });
    writeFileSync(join(folder, "in", "rows.jsonl"), '{"a":1}\n{"a":2}\n');
    const running = await runtime.deploy(
      pipeline("reader", [
        { id: "gen", type: "io.generator", config: { source: { kind: "jsonl", path: "in/rows.jsonl" } } },
        { id: "out", type: "io.sink", config: { kind: "jsonl", path: "out.jsonl" } },
      ], [{ from: "gen.out", to: "out.in", mode: "async" }]),
    );
    await expect.poll(() => running.status().nodes.gen.done, { timeout: 10_000 }).toBe(true);
    await running.idle();
    await runtime.undeploy("reader");
    expect(readFileSync(join(folder, "out.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l).payload)).toEqual([{ a: 1 }, { a: 2 }]);
  });
});
