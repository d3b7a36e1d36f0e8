/**
 * What the SDK promises a node author: typed service keys that a runtime lacking the service
 * refuses up front (validate and deploy, at the node's JSON path) and hands over by key when it
 * has it; the range check behind the SDK-major refusal; and the runtime's own zod as `z`.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { z as runtimeZod } from "zod";
import { afterEach, describe, expect, it } from "vitest";
import { allNodes } from "../../nodes";
import { NodeTypes } from "../../runtime/node-types";
import { sdkRangeProblem } from "../../runtime/packages/sdk-range";
import { PipelineInvalidError, Runtime } from "../../runtime/runtime";
import { defineNode, defineService, port, sdkVersion, z } from "../../sdk";

const greeter = defineService<{ greet(name: string): string }>("test.greeter");
const greet = defineNode({
  type: "test.greet",
  category: "transform",
  title: "Greet",
  description: "Answers with the greeter service's greeting for the payload's name.",
  inputs: { in: port.record() },
  outputs: { out: port.record() },
  config: z.object({}),
  services: [greeter],
  create: (ctx) => {
    const service = ctx.service(greeter);
    return { onMessage: (_p, m, emit) => emit("out", { text: service.greet((m.payload as { name: string }).name) }).then(() => undefined) };
  },
});
const types = new NodeTypes([...allNodes, greet]);
const pipeline = {
  apiVersion: "evoflow/v1",
  name: "greeting",
  nodes: [{ id: "in", type: "io.http" }, { id: "hello", type: "test.greet" }],
  edges: [{ from: "in.out", to: "hello.in", mode: "sync" }],
};

const dataDir = mkdtempSync(path.join(tmpdir(), "evoflow-sdk-"));
let runtime: Runtime | undefined;
afterEach(() => runtime?.close());

describe("service keys", () => {
  it("a runtime without the service refuses the pipeline at validate and deploy, at the node's path", async () => {
    runtime = new Runtime({ nodeTypes: types, dataDir, services: {} });
    const problem = { path: "$.nodes[1].type", message: 'node "hello" (test.greet) needs the "test.greeter" service, which this runtime does not provide' };
    expect(runtime.validate(pipeline)).toEqual({ ok: false, problems: [problem] });
    const refused = await runtime.deploy(pipeline).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(PipelineInvalidError);
    expect((refused as PipelineInvalidError).problems).toEqual([problem]);
  });

  it("a runtime with it hands it to the node by its key", async () => {
    runtime = new Runtime({ nodeTypes: types, dataDir, services: { "test.greeter": { greet: (name: string) => `hello, ${name}` } } });
    expect(runtime.validate(pipeline).ok).toBe(true);
    await runtime.deploy(pipeline);
    const [answer] = await runtime.entrypoint("greeting")!.invoke({ name: "ada" });
    expect(answer.payload).toEqual({ text: "hello, ada" });
  });
});

describe("the SDK version check", () => {
  it("loads a package made for this major, from an older or equal minor", () => {
    for (const range of ["^1", "1", "1.x", "^1.0.0", "~1.0", " ^1 "]) expect(sdkRangeProblem(range, "1.4.2"), range).toBeUndefined();
    expect(sdkRangeProblem("^1.4", "1.4.2")).toBeUndefined();
  });

  it("refuses another major, a newer minor, and a range it cannot read, each with why", () => {
    expect(sdkRangeProblem("^2", "1.4.2")).toBe("it is built for evoflow SDK ^2, and this runtime's SDK is 1.4.2: install a version of it made for SDK 1");
    expect(sdkRangeProblem("^0.9", "1.4.2")).toMatch(/built for evoflow SDK \^0\.9/);
    expect(sdkRangeProblem("^1.5", "1.4.2")).toBe("it needs evoflow SDK ^1.5, and this runtime's SDK is 1.4.2: update Evoflow");
    expect(sdkRangeProblem("one", "1.4.2")).toBe('its SDK range "one" is not an npm version range: give the SDK major it was built for, e.g. "^1"');
  });

  it("reads any npm range (semver): what counts is the lowest SDK it allows", () => {
    expect(sdkRangeProblem(">=1.2 <3", "1.4.2")).toBeUndefined();
    expect(sdkRangeProblem("1.2.x || 1.3.x", "1.4.2")).toBeUndefined();
    expect(sdkRangeProblem(">=1.5.0", "1.4.2")).toMatch(/needs evoflow SDK >=1\.5\.0.*update Evoflow/);
  });

  it("sdkVersion is a version and z the runtime's own zod", () => {
    expect(sdkVersion).toMatch(/^\d+\.\d+\.\d+$/);
    expect(z).toBe(runtimeZod);
  });
});
