/**
 * Every integer in the pipeline schema and in every node type's config has a finite
 * upper bound, so an absurd size (a queue of 2.2e14 slots, a tap ring of 4e9) is a
 * validation error with its JSON path, never a 500 at deploy.
 *
 * How "sizes memory" is recognised: every integer field must have a maximum below
 * 2^53 (zod gives a plain `.int()` the safe-integer range, which bounds nothing). The
 * only exceptions are listed below with the reason; a new unbounded field fails here.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApi } from "../../runtime/api/server";
import { nodeTypes } from "../../runtime/node-types";
import { Runtime } from "../../runtime/runtime";
import { pipelineJsonSchema } from "../../runtime/schema";
import { validatePipeline } from "../../runtime/validate";

/** Integer fields that size nothing, by the last key of their path. */
const NOT_SIZING: Record<string, string> = {
  seed: "a seed picks a random stream; every value is as cheap as any other",
  holdoutSeed: "a seed of the holdout hash",
  versions: "registry version numbers the bandit routes between: ids, and at most 64 of them",
  target: "an explainer's output index: any is as cheap as another, and one past the model's output is refused",
};

type Schema = Record<string, unknown>;

/** Every integer field of a JSON Schema, with its path and maximum. */
function integerFields(schema: unknown, path: string, out: { path: string; key: string; maximum?: number }[] = []) {
  if (typeof schema !== "object" || schema === null) return out;
  const s = schema as Schema;
  const types = Array.isArray(s.type) ? s.type : [s.type];
  if (types.includes("integer")) out.push({ path, key: path.split(".").filter((k) => !k.startsWith("[")).pop()!.replace(/\[\]$/, ""), maximum: s.maximum as number | undefined });
  for (const [name, sub] of Object.entries((s.properties as Schema | undefined) ?? {})) integerFields(sub, `${path}.${name}`, out);
  if (s.items) integerFields(s.items, `${path}[]`, out);
  for (const key of ["anyOf", "oneOf", "allOf", "prefixItems"] as const) for (const sub of (s[key] as unknown[] | undefined) ?? []) integerFields(sub, path, out);
  if (typeof s.additionalProperties === "object") integerFields(s.additionalProperties, `${path}.*`, out);
  for (const [name, sub] of Object.entries((s.$defs as Schema | undefined) ?? {})) integerFields(sub, `${path}#${name}`, out);
  return out;
}

const unbounded = (fields: ReturnType<typeof integerFields>) =>
  fields.filter((f) => !(f.key in NOT_SIZING) && !(typeof f.maximum === "number" && f.maximum < Number.MAX_SAFE_INTEGER)).map((f) => f.path);

describe("upper bounds of sizes", () => {
  it("the walk finds integers and their bounds (it can fail)", () => {
    const fields = integerFields(pipelineJsonSchema(), "$");
    expect(fields.map((f) => f.path)).toContain("$.edges[].queue.capacity");
    expect(unbounded([{ path: "$.x", key: "x", maximum: Number.MAX_SAFE_INTEGER }, { path: "$.y", key: "y" }, { path: "$.seed", key: "seed" }])).toEqual(["$.x", "$.y"]);
  });

  it("every integer of the pipeline schema has a finite maximum", () => {
    const fields = integerFields(pipelineJsonSchema(), "$");
    expect(fields.length).toBeGreaterThan(10);
    expect(unbounded(fields)).toEqual([]);
  });

  it("every integer of every node type's config has a finite maximum (or is listed as sizing nothing)", () => {
    const described = nodeTypes.describe();
    const fields = described.flatMap((d) => integerFields(d.config, `${d.type}.config`));
    expect(fields.length).toBeGreaterThan(40);
    expect(unbounded(fields)).toEqual([]);
  });

  it("validate names the path of each number over its bound", () => {
    const result = validatePipeline(
      {
        apiVersion: "evoflow/v1",
        name: "huge",
        nodes: [
          { id: "g", type: "io.generator", config: { count: 1e12 } },
          { id: "d", type: "drift.ks", config: { window: 1e12 } },
        ],
        edges: [{ from: "g.out", to: "d.in", mode: "async", queue: { capacity: 2.2e14 } }],
        settings: { tapCapacity: 4e9, tapBytes: 2 ** 40, traceBytes: 2 ** 40, traceCapacity: 1e12, deadLetterCapacity: 1e9, maxInFlight: 1e9 },
      },
      nodeTypes,
    );
    expect(result.ok).toBe(false);
    const paths = result.problems.map((p) => p.path);
    for (const path of [
      "$.edges[0].queue.capacity",
      "$.settings.tapCapacity",
      "$.settings.tapBytes",
      "$.settings.traceBytes",
      "$.settings.traceCapacity",
      "$.settings.deadLetterCapacity",
      "$.settings.maxInFlight",
    ])
      expect(paths).toContain(path);
  });

  describe("over HTTP", () => {
    let runtime: Runtime;
    let app: FastifyInstance;
    let url: string;
    beforeAll(async () => {
      runtime = new Runtime({ dataDir: mkdtempSync(join(tmpdir(), "evoflow-bounds-")) });
      app = await createApi({ runtime });
      url = await app.listen({ port: 0, host: "127.0.0.1" });
    });
    afterAll(async () => {
      await app.close();
      await runtime.close();
    });

    const deploy = (pipeline: unknown) =>
      fetch(`${url}/api/pipelines`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(pipeline) });

    it.each([
      ["edges[].queue.capacity 2.2e14", { edges: [{ from: "g.out", to: "s.in", mode: "async", queue: { capacity: 2.2e14 } }] }, "$.edges[0].queue.capacity"],
      ["settings.tapCapacity 4e9", { settings: { tapCapacity: 4e9 } }, "$.settings.tapCapacity"],
      ["a node's window", { nodes: [{ id: "g", type: "io.generator", config: { count: 5 } }, { id: "s", type: "sampler.reservoir", config: { size: 1e11 } }] }, "$.nodes[1].config.size"],
    ])("a deploy with %s is a 400 naming the path, and the server keeps serving", async (_what, change, path) => {
      const pipeline = {
        apiVersion: "evoflow/v1",
        name: "bounds",
        nodes: [
          { id: "g", type: "io.generator", config: { count: 5 } },
          { id: "s", type: "io.sink" },
        ],
        edges: [{ from: "g.out", to: "s.in", mode: "async" }],
        ...change,
      };
      const res = await deploy(pipeline);
      expect(res.status).toBe(400);
      const body = (await res.json()) as { error: string; problems: { path: string; message: string }[] };
      expect(body.problems.map((p) => p.path)).toContain(path);
      expect((await fetch(`${url}/api/pipelines`)).status).toBe(200);
    });
  });
});
