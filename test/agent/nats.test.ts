/**
 * Two agents and a scheduler on a real nats-server: models are placed by free memory,
 * requests go to the agent holding the model, a pipeline's model node runs on them,
 * and when an agent goes away its models are placed on the other one.
 */
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ModelHost } from "../../gpu-agent/host";
import { NatsAgent, NatsModels } from "../../gpu-agent/nats";
import { OnnxRuntimeBackend } from "../../gpu-agent/onnxruntime";
import { LocalModels } from "../../gpu-agent/service";
import type { Tensor } from "../../sdk/ports";
import { FsModelRegistry } from "../../runtime/registry/fs";
import { Runtime } from "../../runtime/runtime";
import { expectClose, mlpFamily, sampleInput, startNatsServer, tempDir } from "./helpers";

const MB = 1024 * 1024;
const models = mlpFamily(6);
let nats: Awaited<ReturnType<typeof startNatsServer>>;
let registry: FsModelRegistry;
const connections: NatsConnection[] = [];
const agents: { agent: NatsAgent; host: ModelHost }[] = [];

async function startAgent(id: string) {
  const nc = await connect({ servers: nats.url });
  connections.push(nc);
  // Each agent has its own registry handle and cache, as separate processes would.
  const agentRegistry = new FsModelRegistry(registry.dir);
  const host = new ModelHost({
    backend: new OnnxRuntimeBackend({ executionProvider: "cpu", intraOpThreads: 1 }),
    memoryBytes: 7 * MB, cacheDir: tempDir(`cache-${id}`), source: LocalModels.registrySource(agentRegistry),
  });
  const agent = new NatsAgent(nc, host, { id, announceMs: 200 });
  await agent.start();
  agents.push({ agent, host });
  return { agent, host };
}

beforeAll(async () => {
  nats = await startNatsServer();
  registry = new FsModelRegistry(tempDir("nats-registry"));
  for (let i = 0; i < models.length; i++) {
    await registry.register({ name: `m${i}`, artifact: models[i].bytes });
    await registry.promote(`m${i}`, 1);
  }
});

afterAll(async () => {
  for (const { host } of agents) await host.close();
  for (const nc of connections) await nc.close();
  await registry?.close();
  await nats?.stop();
});

describe("agents over NATS", () => {
  it("places models on two agents by free memory, routes requests to them, and re-places when an agent leaves", async () => {
    const a = await startAgent("a");
    const b = await startAgent("b");
    const nc = await connect({ servers: nats.url });
    connections.push(nc);
    const scheduler = new NatsModels(nc, { registry, requestTimeoutMs: 10_000 });
    await scheduler.start();
    expect(scheduler.agentsStatus().map((s) => s.id).sort()).toEqual(["a", "b"]);

    const ask = async (i: number, seed: number) => {
      const x = sampleInput(models[i], 2, seed);
      const version = await scheduler.resolve(`m${i}`, "champion");
      const out = await scheduler.infer(`m${i}`, version, { input: { dtype: "float32", shape: [2, 8], data: x } });
      expectClose(out.output.data as Float32Array, models[i].forward(x, 2));
    };
    for (let i = 0; i < 6; i++) await ask(i, i);
    // Placement by free memory spreads six equal models three and three.
    expect(a.host.status().assigned).toBe(3);
    expect(b.host.status().assigned).toBe(3);

    // Requests go to the agent that holds the model: no other agent loads it.
    const requestsBefore = a.host.status().models.reduce((n, m) => n + m.requests, 0) + b.host.status().models.reduce((n, m) => n + m.requests, 0);
    await Promise.all(Array.from({ length: 60 }, (_, n) => ask(n % 6, 100 + n)));
    expect(a.host.status().assigned + b.host.status().assigned).toBe(6);
    expect(a.host.status().loads + b.host.status().loads).toBe(6);
    const requestsAfter = a.host.status().models.reduce((n, m) => n + m.requests, 0) + b.host.status().models.reduce((n, m) => n + m.requests, 0);
    expect(requestsAfter - requestsBefore).toBe(60);

    // A model node in a pipeline runs on the agents through the scheduler.
    const runtime = new Runtime({ dataDir: tempDir("nats-runtime"), services: { registry, models: scheduler } });
    const running = await runtime.deploy({
      apiVersion: "evoflow/v1", name: "remote",
      nodes: [{ id: "request", type: "io.http" }, { id: "model", type: "model.onnx", config: { model: "m4@champion" } }],
      edges: [{ from: "request.out", to: "model.in", mode: "sync" }],
    });
    const x = sampleInput(models[4], 3, 77);
    const [reply] = await running.entrypoints.get("remote")!.invoke({ dtype: "float32", shape: [3, 8], data: x });
    expect(reply.source.model).toEqual({ name: "m4", version: 1 });
    expectClose((reply.payload as Tensor).data as Float32Array, models[4].forward(x, 3));
    await runtime.close();

    // Agent b drops off NATS without a word (as a crash would): its models are placed on a, and every request still gets its answer.
    const onB = b.host.list().map((m) => Number(m.name.slice(1)));
    await connections[1].close();
    for (const i of onB) await ask(i, 500 + i);
    expect(a.host.status().assigned).toBe(6);
    expect(scheduler.agentsStatus().map((s) => s.id)).toEqual(["a"]);

    // An agent that stops cleanly says so, and the scheduler forgets it at once.
    const c = await startAgent("c");
    await scheduler.discover();
    expect(scheduler.agentsStatus().map((s) => s.id).sort()).toEqual(["a", "c"]);
    await c.agent.stop();
    await expect.poll(() => scheduler.agentsStatus().map((s) => s.id)).toEqual(["a"]);

    // Bad input comes back as the same error class as in-process.
    await expect(scheduler.infer("m0", 1, { input: { dtype: "float32", shape: [1, 3], data: new Float32Array(3) } })).rejects.toThrow(/needs shape/);
    await expect(scheduler.infer("ghost", 1, { input: { dtype: "float32", shape: [1, 8], data: new Float32Array(8) } })).rejects.toThrow(/not found/);
    await scheduler.close();
  }, 60_000);
});
