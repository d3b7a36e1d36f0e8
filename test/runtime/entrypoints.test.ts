/**
 * One entry point name, one node: two io.http nodes claiming a name (config.name, or the
 * pipeline's name by default) are a validation error in one pipeline and a deploy error across
 * two, naming both, instead of whichever the runtime finds first serving the requests.
 */
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApi } from "../../runtime/api/server";
import { nodeTypes } from "../../runtime/node-types";
import { PipelineInvalidError, Runtime } from "../../runtime/runtime";
import { validatePipeline } from "../../runtime/validate";

/** A pipeline answering `{ from: <tag> }` on its io.http entry point (named `entry`, or the pipeline's name). */
function answering(name: string, tag: string, entry?: string) {
  return {
    apiVersion: "evoflow/v1",
    name,
    nodes: [
      { id: "in", type: "io.http", config: entry ? { name: entry } : {} },
      { id: "tag", type: "transform.set", config: { set: { from: tag } } },
    ],
    edges: [{ from: "in.out", to: "tag.in" }],
  };
}

describe("duplicate entry points in one pipeline", () => {
  it("two io.http nodes with the same config.name: a problem naming both nodes", () => {
    const p = answering("twice", "a", "shared");
    p.nodes.push({ id: "other", type: "io.http", config: { name: "shared" } }, { id: "tag2", type: "transform.set", config: { set: { from: "b" } } });
    p.edges.push({ from: "other.out", to: "tag2.in" });
    const r = validatePipeline(p, nodeTypes);
    expect(r.ok).toBe(false);
    expect(r.problems).toEqual([
      { path: "$.nodes[2].config", message: 'nodes "in" ($.nodes[0].config) and "other" ($.nodes[2].config) both claim entry point "shared": give one another name' },
    ]);
  });

  it("an unnamed io.http and one named after the pipeline clash; distinct names do not", () => {
    const p = answering("hello2", "a");
    p.nodes.push({ id: "named", type: "io.http", config: { name: "hello2" } });
    const clash = validatePipeline(p, nodeTypes);
    expect(clash.problems).toEqual([expect.objectContaining({ path: "$.nodes[2].config", message: expect.stringContaining('"in" ($.nodes[0].config) and "named" ($.nodes[2].config) both claim entry point "hello2"') })]);
    p.nodes[2].config = { name: "elsewhere" };
    expect(validatePipeline(p, nodeTypes).problems).toEqual([]);
  });
});

describe("duplicate entry points across pipelines (real HTTP server)", () => {
  let runtime: Runtime;
  let app: FastifyInstance;
  let url: string;
  const deploy = (pipeline: unknown) => fetch(`${url}/api/pipelines`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(pipeline) });
  const call = async (entry: string) => (await fetch(`${url}/pipelines/${entry}`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" })).json();

  beforeAll(async () => {
    runtime = new Runtime({ dataDir: "/tmp/evoflow-entrypoints-test" });
    app = await createApi({ runtime });
    url = await app.listen({ port: 0, host: "127.0.0.1" });
  });
  afterAll(async () => {
    await app.close();
    await runtime.close();
  });

  it("a second pipeline claiming a served name is refused with 400, naming both pipelines and nodes; the first keeps serving", async () => {
    expect((await deploy(answering("first", "first", "shop"))).status).toBe(201);
    const res = await deploy(answering("second", "second", "shop"));
    expect(res.status).toBe(400);
    expect((await res.json()).problems).toEqual([
      { path: "$.nodes[0].config", message: 'node "in" claims entry point "shop", which node "in" of pipeline "first" serves already: give one another name or undeploy "first"' },
    ]);
    expect(runtime.get("second")).toBeUndefined();
    expect(await call("shop")).toEqual({ from: "first" });
  });

  it("a pipeline's default name clashing with another's config.name is refused too", async () => {
    await expect(runtime.deploy(answering("shop", "third"))).rejects.toThrow(PipelineInvalidError);
    await expect(runtime.deploy(answering("shop", "third"))).rejects.toThrow(/node "in" claims entry point "shop", which node "in" of pipeline "first"/);
  });

  it("redeploying the same pipeline is a replacement, not a clash; after an undeploy the name is free", async () => {
    expect((await deploy(answering("first", "first v2", "shop"))).status).toBe(201);
    expect(await call("shop")).toEqual({ from: "first v2" });
    expect(await runtime.undeploy("first")).toBe(true);
    expect((await deploy(answering("second", "second", "shop"))).status).toBe(201);
    expect(await call("shop")).toEqual({ from: "second" });
  });

  it("two pipelines deploying the same name at once: exactly one wins", async () => {
    const results = await Promise.allSettled([runtime.deploy(answering("race-a", "a", "race")), runtime.deploy(answering("race-b", "b", "race"))]);
    expect(results.map((r) => r.status).sort()).toEqual(["fulfilled", "rejected"]);
  });
});
