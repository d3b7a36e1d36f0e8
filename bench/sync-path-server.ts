/**
 * A server under test for bench/sync-path.ts, in its own process.
 *   bare:    fastify + one onnxruntime-node session, a hand-written handler
 *   evoflow: the Evoflow runtime API, pipeline `request (io.http) → model (model.onnx)`,
 *            called over the Open Inference Protocol at /v2/models/<pipeline>/infer
 *   evoflow-untraced: the same pipeline with provenance and taps off (settings
 *            traceCapacity 0, tapCapacity 0), for reference: what keeping them costs
 * All take the same v2 JSON request. Reports {port, path} when listening and its
 * peak RSS when asked.
 */
import { readFileSync } from "node:fs";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Fastify from "fastify";
import * as ort from "onnxruntime-node";
import { ModelHost } from "../gpu-agent/host";
import { OnnxRuntimeBackend } from "../gpu-agent/onnxruntime";
import { LocalModels } from "../gpu-agent/service";
import { createApi } from "../runtime/api/server";
import { FsModelRegistry } from "../runtime/registry/fs";
import { Runtime } from "../runtime/runtime";

/** VmHWM: this process's peak resident set (getrusage's maxrss would include the parent's, from before exec). */
function peakRss(): number {
  const kb = /VmHWM:\s+(\d+) kB/.exec(readFileSync("/proc/self/status", "utf8"));
  return kb ? Number(kb[1]) * 1024 : process.resourceUsage().maxRSS * 1024;
}

const [mode, modelFile] = process.argv.slice(2);
const bytes = new Uint8Array(readFileSync(modelFile));

async function bare() {
  // The agent's session options (CPU, 1 intra-op thread), so only the serving path differs.
  const session = await ort.InferenceSession.create(modelFile, new OnnxRuntimeBackend({ executionProvider: "cpu" }).sessionOptions());
  const app = Fastify({ bodyLimit: 16 * 1024 * 1024 });
  app.post("/infer", async (req) => {
    const input = (req.body as { inputs: { name: string; shape: number[]; data: number[] }[] }).inputs[0];
    const results = await session.run({ [input.name]: new ort.Tensor("float32", Float32Array.from(input.data), input.shape) });
    const out = results[session.outputNames[0]];
    return { model_name: "bare", outputs: [{ name: session.outputNames[0], datatype: "FP32", shape: out.dims, data: Array.from(out.data as Float32Array) }] };
  });
  const address = await app.listen({ port: 0, host: "127.0.0.1" });
  return { port: Number(new URL(address).port), path: "/infer" };
}

async function evoflow(untraced: boolean) {
  const dir = mkdtempSync(join(tmpdir(), "evoflow-syncbench-"));
  const registry = new FsModelRegistry(join(dir, "registry"));
  await registry.register({ name: "mnist", artifact: bytes });
  await registry.promote("mnist", 1);
  const host = new ModelHost({ backend: new OnnxRuntimeBackend({ executionProvider: "cpu" }), memoryBytes: 512e6, cacheDir: join(dir, "cache"), source: LocalModels.registrySource(registry) });
  const runtime = new Runtime({ dataDir: join(dir, "data"), services: { registry, models: new LocalModels(host, registry) } });
  await runtime.deploy({
    apiVersion: "evoflow/v1",
    name: "classify",
    ...(untraced ? { settings: { traceCapacity: 0, tapCapacity: 0 } } : {}),
    nodes: [
      { id: "request", type: "io.http" },
      { id: "model", type: "model.onnx", config: { model: "mnist@champion" } },
    ],
    edges: [{ from: "request.out", to: "model.in", mode: "sync" }],
  });
  const app = await createApi({ runtime });
  const address = await app.listen({ port: 0, host: "127.0.0.1" });
  return { port: Number(new URL(address).port), path: "/v2/models/classify/infer" };
}

const ready = mode === "bare" ? await bare() : await evoflow(mode === "evoflow-untraced");
process.on("message", () => process.send!({ peakRssBytes: peakRss() }));
process.on("disconnect", () => process.exit(0)); // the benchmark ended, however it ended
process.send!(ready);
