/**
 * Capabilities: a node type declares what it needs beyond computing (exec, fs-write, network);
 * a runtime grants fs-write and network unless told otherwise, never exec; a deploy needing an
 * ungranted capability is refused naming each node and how to grant it; `evoflow validate`
 * cannot know a server's grants and still passes; /api/nodes shows which types are locked.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApi } from "../../runtime/api/server";
import { configPathFields } from "../../runtime/confined-path";
import { CAPABILITIES, capabilitiesOf } from "../../sdk/contract";
import { nodeTypes, type NodeTypeDescription } from "../../runtime/node-types";
import { FsModelRegistry } from "../../runtime/registry/fs";
import { DEFAULT_GRANTS, PipelineInvalidError, Runtime } from "../../runtime/runtime";
import { validatePipeline } from "../../runtime/validate";

const externalTrainer = {
  apiVersion: "evoflow/v1",
  name: "ext",
  nodes: [
    { id: "labels", type: "io.http", config: { name: "ext-labels" } },
    { id: "log", type: "io.sink", config: { kind: "jsonl", path: "log.jsonl" } },
    { id: "trainer", type: "trainer.external", config: { model: "ext", command: ["touch", "pwned"] } },
  ],
  edges: [
    { from: "labels.out", to: "trainer.data", mode: "async" },
    { from: "trainer.candidate", to: "log.in", mode: "async" },
  ],
};

let dir: string;
let registry: FsModelRegistry;
const runtimes: Runtime[] = [];
const runtimeWith = (grants?: (typeof CAPABILITIES)[number][]) => {
  const r = new Runtime({ dataDir: mkdtempSync(join(dir, "data-")), services: { registry }, grants });
  runtimes.push(r);
  return r;
};

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "evoflow-capabilities-"));
  registry = new FsModelRegistry(join(dir, "registry"));
});

afterAll(async () => {
  for (const r of runtimes) await r.close();
  await registry?.close();
});

describe("declarations", () => {
  it("name only known capabilities; trainer.external needs exec, io.sink fs-write", () => {
    for (const def of nodeTypes.list()) for (const c of capabilitiesOf(def)) expect(CAPABILITIES, def.type).toContain(c);
    expect(nodeTypes.get("trainer.external")!.capabilities).toEqual(["exec"]);
    expect(nodeTypes.get("io.sink")!.capabilities).toEqual(["fs-write"]);
    // Evoflow's own trainer runs Evoflow's code in its child process, not the pipeline's.
    expect(nodeTypes.get("trainer.tfjs")!.capabilities ?? []).not.toContain("exec");
  });

  it("declare fs-write wherever a path field is written", () => {
    const writers = nodeTypes.list().filter((def) => configPathFields(def.config).some((f) => f.meta.access === "write"));
    expect(writers.map((d) => d.type)).toContain("io.sink");
    for (const def of writers) expect(def.capabilities ?? [], def.type).toContain("fs-write");
  });
});

describe("deploy", () => {
  it("refuses an exec node without the grant, naming the node, the capability and how to grant it", async () => {
    const runtime = runtimeWith();
    expect([...runtime.grants]).toEqual([...DEFAULT_GRANTS]);
    const err = (await runtime.deploy(externalTrainer).catch((e: unknown) => e)) as PipelineInvalidError;
    expect(err).toBeInstanceOf(PipelineInvalidError);
    expect(err.problems).toEqual([{ path: "$.nodes[2].type", message: expect.stringMatching(/node "trainer" \(trainer\.external\) needs the "exec" capability.*--grant exec/) }]);
    expect(runtime.get("ext")).toBeUndefined();
  });

  it("lists every node and every missing capability at once", async () => {
    const err = (await runtimeWith([]).deploy(externalTrainer).catch((e: unknown) => e)) as PipelineInvalidError;
    expect(err.problems.map((p) => [p.path, p.message.match(/needs the (.*?) capabilit/)?.[1]])).toEqual([
      ["$.nodes[1].type", '"fs-write"'],
      ["$.nodes[2].type", '"exec"'],
    ]);
    expect(err.message).toMatch(/--grant fs-write/);
  });

  it("accepts it with grants that include exec", async () => {
    const running = await runtimeWith(["exec", "fs-write", "network"]).deploy(externalTrainer);
    expect(running.status().nodes.trainer).toMatchObject({ type: "trainer.external" });
  });

  it("leaves evoflow validate passing: it cannot know a server's grants", () => {
    expect(validatePipeline(externalTrainer, nodeTypes)).toMatchObject({ ok: true, problems: [] });
  });
});

describe("HTTP API", () => {
  let locked: FastifyInstance;
  let open: FastifyInstance;
  let url: string;

  beforeAll(async () => {
    locked = await createApi({ runtime: runtimeWith() });
    url = await locked.listen({ port: 0, host: "127.0.0.1" });
    open = await createApi({ runtime: runtimeWith([...CAPABILITIES]) });
  });

  afterAll(async () => {
    await locked?.close();
    await open?.close();
  });

  it("GET /api/nodes shows each type's capabilities and whether this runtime locks it", async () => {
    const types: NodeTypeDescription[] = await (await fetch(`${url}/api/nodes`)).json();
    const byType = new Map(types.map((t) => [t.type, t]));
    expect(byType.get("trainer.external")).toMatchObject({ capabilities: ["exec"], locked: true, missing: ["exec"] });
    expect(byType.get("io.sink")).toMatchObject({ capabilities: ["fs-write"], locked: false, missing: [] });
    expect(byType.get("transform.jsonata")).toMatchObject({ capabilities: [], locked: false });
    const granted: NodeTypeDescription[] = (await open.inject({ method: "GET", url: "/api/nodes" })).json();
    expect(granted.filter((t) => t.locked)).toEqual([]);
  });

  it("POST /api/pipelines refuses the exec node with 400 and its JSON path; POST /api/validate passes it", async () => {
    const headers = { "content-type": "application/json" };
    const body = JSON.stringify(externalTrainer);
    const res = await fetch(`${url}/api/pipelines`, { method: "POST", headers, body });
    expect(res.status).toBe(400);
    expect((await res.json()).problems).toEqual([{ path: "$.nodes[2].type", message: expect.stringContaining('"exec"') }]);
    expect(await (await fetch(`${url}/api/validate`, { method: "POST", headers, body })).json()).toEqual({ ok: true, problems: [] });
    const granted = await open.inject({ method: "POST", url: "/api/pipelines", headers, payload: body });
    expect(granted.statusCode).toBe(201);
  });
});
