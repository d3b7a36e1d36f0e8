/**
 * explain.kernel-shap against a model hosted by an agent over NATS (a real nats-server): the
 * explainer reaches the model through the `models` service as the model node does, its
 * perturbed rows are run on the agent, and the Shapley values are still exact for a linear model.
 */
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, describe, expect, it } from "vitest";
import { ModelHost } from "../../gpu-agent/host";
import { NatsAgent, NatsModels } from "../../gpu-agent/nats";
import { OnnxRuntimeBackend } from "../../gpu-agent/onnxruntime";
import { LocalModels } from "../../gpu-agent/service";
import { FsModelRegistry } from "../../runtime/registry/fs";
import { Runtime } from "../../runtime/runtime";
import type { Explanation, Tensor } from "../../sdk";
import { startNatsServer, tempDir } from "../agent/helpers";
import { randomFloats } from "../fixtures/mlp";
import { linearModel, linearShap, scoringPipeline } from "./fixtures";

const closers: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const close of closers.reverse()) await close();
});

describe("explainers through an agent over NATS", () => {
  it("gives the exact Shapley values of a model the agent runs", async () => {
    const nats = await startNatsServer();
    closers.push(() => nats.stop());
    const registry = new FsModelRegistry(tempDir("explain-agent-registry"));
    closers.push(() => registry.close());
    const model = linearModel(4, 2, 53);
    await registry.register({ name: "clf", artifact: model.bytes });
    await registry.promote("clf", 1);

    const connection = async () => {
      const nc: NatsConnection = await connect({ servers: nats.url });
      closers.push(() => nc.close());
      return nc;
    };
    const host = new ModelHost({ backend: new OnnxRuntimeBackend({ executionProvider: "cpu", intraOpThreads: 1 }), memoryBytes: 16 * 1024 * 1024, cacheDir: tempDir("explain-agent-cache"), source: LocalModels.registrySource(new FsModelRegistry(registry.dir)) });
    closers.push(() => host.close());
    const agent = new NatsAgent(await connection(), host, { id: "gpu-1", announceMs: 200 });
    await agent.start();
    closers.push(() => agent.stop());
    const models = new NatsModels(await connection(), { registry, requestTimeoutMs: 10_000 });
    await models.start();
    closers.push(() => models.close());

    const runtime = new Runtime({ dataDir: tempDir("explain-agent-data"), services: { registry, models } });
    closers.push(() => runtime.close());
    const background = [0, 1, 2].map((s) => Array.from(randomFloats(4, 800 + s, 2)));
    const running = await runtime.deploy(scoringPipeline("clf", [{ id: "shap", type: "explain.kernel-shap", config: { model: "clf", background, target: 0 } }]));
    const x: Tensor = { dtype: "float32", shape: [1, 4], data: randomFloats(4, 900, 2) };
    const [reply] = await running.entrypoints.get("scorer")!.invoke(x);
    await running.idle();
    const [explained] = running.traces.messages(reply.traceId).filter((m) => m.source.node === "shap");
    const e = explained.payload as Explanation;
    const expected = linearShap(model, 0, x.data as Float32Array, background);
    Array.from(e.attributions.data).forEach((v, i) => expect(v).toBeCloseTo(expected[i], 4));
    // Served and explained on the agent: the one request and the explainer's batches of perturbed rows.
    expect(host.status().models.find((m) => m.name === "clf")!.requests).toBeGreaterThan(1);
  }, 60_000);
});
