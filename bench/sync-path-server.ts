/**
 * A server under test for bench/sync-path.ts, in its own process.
 *   bare:    fastify + one onnxruntime-node session, a hand-written handler
 *   evoflow: the Evoflow runtime API, pipeline `request (io.http) → model (model.onnx)`,
 *            called over the Open Inference Protocol at /v2/models/<pipeline>/infer
 *   evoflow-untraced: the same pipeline with provenance and taps off (settings
 *            traceCapacity 0, tapCapacity 0), for reference: what keeping them costs
 *   evoflow-token / evoflow-unchecked: for bench/auth-overhead.ts, the evoflow server
 *            asking for the token given as the third argument (and checking Host, Origin, content type,
 *            as every server does), and the same with no access checks at all
 *   bare-reader: the bare handler reading its body as the v2 endpoint does
 *            (parseInferRequestJson, tensorFromJson) instead of JSON.parse, for
 *            reference: what the pipeline costs beyond the JSON reader
 * All take the same v2 JSON request. Reports {port, path} when listening, its peak
 * RSS when asked, and, asked to inject requests, the CPU each costs served in process
 * (fastify's inject: no socket, so the loopback's noise is left out).
 */
import { readFileSync } from "node:fs";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Fastify, { type FastifyInstance } from "fastify";
import { ort } from "../onnx/ort";
import { ModelHost } from "../gpu-agent/host";
import { OnnxRuntimeBackend } from "../gpu-agent/onnxruntime";
import { LocalModels } from "../gpu-agent/service";
import { tensorFromJson, type V2Tensor } from "../gpu-agent/tensors";
import { parseInferRequestJson } from "../gpu-agent/v2-json";
import { createApi, createApiWithoutAccessChecks } from "../runtime/api/server";
import { FsModelRegistry } from "../runtime/registry/fs";
import { Runtime } from "../runtime/runtime";

/** VmHWM: this process's peak resident set (getrusage's maxrss would include the parent's, from before exec). */
function peakRss(): number {
  const kb = /VmHWM:\s+(\d+) kB/.exec(readFileSync("/proc/self/status", "utf8"));
  return kb ? Number(kb[1]) * 1024 : process.resourceUsage().maxRSS * 1024;
}

const [mode, modelFile, token] = process.argv.slice(2);
const bytes = new Uint8Array(readFileSync(modelFile));

async function bare(evoflowReader: boolean) {
  // The agent's session options (CPU, 1 intra-op thread), so only the serving path differs.
  const session = await ort.InferenceSession.create(modelFile, new OnnxRuntimeBackend({ executionProvider: "cpu" }).sessionOptions());
  const app = Fastify({ bodyLimit: 16 * 1024 * 1024 });
  if (evoflowReader) app.addContentTypeParser("application/json", { parseAs: "buffer" }, (_req, body, done) => done(null, parseInferRequestJson(body as Buffer)));
  app.post("/infer", async (req) => {
    const input = (req.body as { inputs: V2Tensor[] }).inputs[0];
    const data = evoflowReader ? (tensorFromJson(input, "input").data as Float32Array) : Float32Array.from(input.data as number[]);
    const results = await session.run({ [input.name]: new ort.Tensor("float32", data, input.shape) });
    const out = results[session.outputNames[0]];
    return { model_name: "bare", outputs: [{ name: session.outputNames[0], datatype: "FP32", shape: out.dims, data: Array.from(out.data as Float32Array) }] };
  });
  return { app, path: "/infer" };
}

async function evoflow(untraced: boolean, access: "checks" | "token" | "unchecked" = "checks") {
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
  const app =
    access === "unchecked" ? await createApiWithoutAccessChecks({ runtime }) : await createApi({ runtime, auth: access === "token" ? { tokens: { [token]: "operator" } } : undefined });
  // The same runtime without the checks, never listening: inject turns between the two in one
  // process, so JIT, GC and placement fall on both alike (bench/auth-overhead.ts).
  const twin = access === "token" ? await createApiWithoutAccessChecks({ runtime }) : undefined;
  return { app, twin, path: "/v2/models/classify/infer" };
}

/** CPU (every thread) per request over `count` requests injected one after another. */
async function injected(app: FastifyInstance, path: string, body: string, count: number, headers: Record<string, string> = {}): Promise<number> {
  const inject = () => app.inject({ method: "POST", url: path, headers: { ...headers, "content-type": "application/json" }, payload: body });
  for (let i = 0; i < count / 10; i++) await inject(); // warm-up
  const before = process.cpuUsage();
  for (let i = 0; i < count; i++) await inject();
  const used = process.cpuUsage(before);
  return (used.user + used.system) / count;
}

const { app, path, twin }: { app: FastifyInstance; path: string; twin?: FastifyInstance } = mode.startsWith("bare")
  ? await bare(mode === "bare-reader")
  : await evoflow(mode === "evoflow-untraced", mode === "evoflow-token" ? "token" : mode === "evoflow-unchecked" ? "unchecked" : "checks");
const address = await app.listen({ port: 0, host: "127.0.0.1" });
const ready = { port: Number(new URL(address).port), path };
process.on("message", async (msg: { inject?: { body: string; count: number; headers?: Record<string, string>; twin?: boolean } }) => {
  if (msg.inject) process.send!({ cpuUsPerRequest: await injected(msg.inject.twin && twin ? twin : app, path, msg.inject.body, msg.inject.count, msg.inject.headers) });
  else process.send!({ peakRssBytes: peakRss() });
});
process.on("disconnect", () => process.exit(0)); // the benchmark ended, however it ended
process.send!(ready);
