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
 *   bare-grpc / evoflow-grpc: for bench/grpc-path.ts, the bare server with a grpc-js server
 *            beside it (KServe's ModelInfer, raw tensor contents, the same session), and the
 *            evoflow server with its gRPC service (gpu-agent/v2-grpc.ts); `grpcPort` in the ready message
 *   bare-reader: the bare handler reading its body as the v2 endpoint does
 *            (parseInferRequestJson, tensorFromJson) instead of JSON.parse, for
 *            reference: what the pipeline costs beyond the JSON reader
 * All take the same v2 JSON request. Reports {port, path} when listening, its peak
 * RSS when asked, and, asked to inject requests, the CPU each costs served in process
 * (fastify's inject: no socket, so the loopback's noise is left out).
 */
import { readFileSync } from "node:fs";
import { peakRss } from "./agent-bench-lib";
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
import { accessCheck } from "../runtime/api/auth";
import { createApi, createApiWithoutAccessChecks } from "../runtime/api/server";
import { runtimeGrpcProvider } from "../runtime/api/v2";
import { startV2GrpcServer } from "../gpu-agent/v2-grpc";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { FsModelRegistry } from "../runtime/registry/fs";
import { Runtime } from "../runtime/runtime";


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
  // And once more with the very checks `app` runs, each call timed: their own cost, apart from any noise.
  const timed = access === "token" ? await createApiWithoutAccessChecks({ runtime }, (bare) => {
    const check = accessCheck({ auth: { tokens: { [token]: "operator" } } });
    bare.addHook("onRequest", (req, reply, done) => {
      // Two clock reads back to back, then the checks: the second span less the first is the checks alone.
      const before = process.hrtime.bigint();
      const start = process.hrtime.bigint();
      const refused = check(req, reply);
      const end = process.hrtime.bigint();
      checkNs += end - start - (start - before);
      if (!refused) done();
    });
  }) : undefined;
  return { app, twin, timed, runtime, path: "/v2/models/classify/infer" };
}

/** KServe's ModelInfer on the bare session: raw float32 in, raw out, nothing else. */
async function bareGrpc(): Promise<number> {
  const session = await ort.InferenceSession.create(modelFile, new OnnxRuntimeBackend({ executionProvider: "cpu" }).sessionOptions());
  const definition = protoLoader.loadSync(join(import.meta.dirname, "../gpu-agent/grpc/inference.proto"), { keepCase: true, longs: String, defaults: true, arrays: true });
  const service = (grpc.loadPackageDefinition(definition).inference as unknown as { GRPCInferenceService: { service: grpc.ServiceDefinition } }).GRPCInferenceService.service;
  const server = new grpc.Server();
  server.addService(service, {
    ModelInfer: (call: grpc.ServerUnaryCall<{ model_name: string; inputs: { name: string; shape: string[] }[]; raw_input_contents: Buffer[] }, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      const input = call.request.inputs[0];
      const raw = call.request.raw_input_contents[0];
      const data = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
      session.run({ [input.name]: new ort.Tensor("float32", data, input.shape.map(Number)) }).then((results) => {
        const out = results[session.outputNames[0]];
        const bytes = out.data as Float32Array;
        callback(null, { model_name: call.request.model_name, outputs: [{ name: session.outputNames[0], datatype: "FP32", shape: out.dims.map(String) }], raw_output_contents: [Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)] });
      }, (err: Error) => callback({ code: grpc.status.INTERNAL, details: err.message }));
    },
  });
  return new Promise((resolve, reject) => server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port))));
}

let checkNs = 0n;
/** Nanoseconds the access checks took per request over `count` requests injected into the timed app. */
async function checkCost(app: FastifyInstance, path: string, body: string, count: number, headers: Record<string, string>): Promise<number> {
  await injected(app, path, body, count / 10, headers); // warm-up
  checkNs = 0n;
  await injected(app, path, body, count, headers);
  return Number(checkNs) / count;
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

const { app, path, twin, timed, runtime }: { app: FastifyInstance; path: string; twin?: FastifyInstance; timed?: FastifyInstance; runtime?: Runtime } = mode.startsWith("bare")
  ? await bare(mode === "bare-reader")
  : await evoflow(mode === "evoflow-untraced", mode === "evoflow-token" ? "token" : mode === "evoflow-unchecked" ? "unchecked" : "checks");
const address = await app.listen({ port: 0, host: "127.0.0.1" });
const grpcPort =
  mode === "bare-grpc" ? await bareGrpc() : mode === "evoflow-grpc" ? (await startV2GrpcServer("127.0.0.1", 0, { provider: runtimeGrpcProvider(runtime!) })).port : undefined;
const ready = { port: Number(new URL(address).port), path, grpcPort };
process.on("message", async (msg: { inject?: { body: string; count: number; headers?: Record<string, string>; twin?: boolean }; timeChecks?: { body: string; count: number; headers: Record<string, string> } }) => {
  if (msg.timeChecks && timed) process.send!({ checkNsPerRequest: await checkCost(timed, path, msg.timeChecks.body, msg.timeChecks.count, msg.timeChecks.headers) });
  else if (msg.inject) process.send!({ cpuUsPerRequest: await injected(msg.inject.twin && twin ? twin : app, path, msg.inject.body, msg.inject.count, msg.inject.headers) });
  else process.send!({ peakRssBytes: peakRss() });
});
process.on("disconnect", () => process.exit(0)); // the benchmark ended, however it ended
process.send!(ready);
