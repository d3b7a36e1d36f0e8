/**
 * The sync path over gRPC and over REST (issue 24, point 5): the same ONNX model (784-128-10
 * MLP, batch 1) behind
 *   bare     fastify + onnxruntime-node for REST (JSON v2 body), and a grpc-js server on the
 *            same session for gRPC (KServe's ModelInfer, raw tensor contents);
 *   evoflow  the pipeline `io.http → model.onnx` at /v2/models/classify/infer, and the same
 *            pipeline through Evoflow's gRPC service (gpu-agent/v2-grpc.ts), raw contents,
 * each server in its own process (bench/sync-path-server.ts), both protocols driven from this
 * process in closed loops (fetch with keep-alive; a grpc-js client), the four targets taking
 * turns of a second (the first 0.1 s not measured) at 1 and 16 clients. Target: evoflow ≤ 1.05×
 * bare on p50 for each protocol. Writes bench/results/grpc-path.{json,md}.
 *
 * Run: node --import tsx bench/grpc-path.ts [--seconds 20]
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { makeMlp, randomFloats } from "../test/fixtures/mlp";
import { ask, benchDir, forkChild, RUNTIME_NODE_FLAGS, latencySummary, machine, mb, numberArg, round, stopChild } from "./agent-bench-lib";

const seconds = numberArg("seconds", 20);
const TURN_MS = 1000;
const SETTLE_MS = 100;

const mlp = makeMlp({ sizes: [784, 128, 10], seed: 7, softmax: true });
const modelFile = join(mkdtempSync(join(tmpdir(), "evoflow-grpcpath-")), "mnist.onnx");
writeFileSync(modelFile, mlp.bytes);
const image = randomFloats(784, 3);
const restBody = JSON.stringify({ inputs: [{ name: "input", shape: [1, 784], datatype: "FP32", data: Array.from(image) }] });
const raw = Buffer.from(image.buffer, image.byteOffset, image.byteLength);

type Ready = { port: number; path: string; grpcPort: number };
const servers = {
  bare: await forkChild<Ready>("sync-path-server.ts", ["bare-grpc", modelFile], RUNTIME_NODE_FLAGS),
  evoflow: await forkChild<Ready>("sync-path-server.ts", ["evoflow-grpc", modelFile], RUNTIME_NODE_FLAGS),
};
type Server = keyof typeof servers;
const definition = protoLoader.loadSync(join(benchDir, "../gpu-agent/grpc/inference.proto"), { keepCase: true, longs: String, defaults: true, arrays: true });
const Service = (grpc.loadPackageDefinition(definition).inference as unknown as { GRPCInferenceService: new (address: string, credentials: grpc.ChannelCredentials) => grpc.Client & { ModelInfer: Function } }).GRPCInferenceService;
const clients = { bare: new Service(`127.0.0.1:${servers.bare.ready.grpcPort}`, grpc.credentials.createInsecure()), evoflow: new Service(`127.0.0.1:${servers.evoflow.ready.grpcPort}`, grpc.credentials.createInsecure()) };
const modelName = { bare: "bare", evoflow: "classify" };

type Target = { server: Server; protocol: "rest" | "grpc" };
const targets: Target[] = [{ server: "bare", protocol: "rest" }, { server: "evoflow", protocol: "rest" }, { server: "bare", protocol: "grpc" }, { server: "evoflow", protocol: "grpc" }];
const label = (t: Target) => `${t.server}-${t.protocol}`;

/** One request; resolves with its first output's values, so the answers can be compared. */
async function send(t: Target): Promise<Float32Array> {
  if (t.protocol === "rest") {
    const res = await fetch(`http://127.0.0.1:${servers[t.server].ready.port}${servers[t.server].ready.path}`, { method: "POST", headers: { "content-type": "application/json" }, body: restBody });
    if (res.status !== 200) throw new Error(`${label(t)}: ${res.status} ${await res.text()}`);
    return Float32Array.from(((await res.json()) as { outputs: { data: number[] }[] }).outputs[0].data);
  }
  const request = { model_name: modelName[t.server], inputs: [{ name: "input", datatype: "FP32", shape: ["1", "784"] }], raw_input_contents: [raw] };
  const out = await new Promise<{ raw_output_contents: Buffer[] }>((resolve, reject) => clients[t.server].ModelInfer(request, (err: Error | null, res: { raw_output_contents: Buffer[] }) => (err ? reject(err) : resolve(res))));
  const b = out.raw_output_contents[0];
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}

const expected = mlp.forward(image, 1);
for (const t of targets) {
  const got = await send(t);
  if (!Array.from(got).every((v, i) => Math.abs(v - expected[i]) < 1e-4)) throw new Error(`${label(t)} answers wrongly`);
}

/** Closed loops of `concurrency` clients on one target for `ms`; latencies of requests started after the settle time. */
async function turn(t: Target, ms: number, concurrency: number): Promise<number[]> {
  const started = performance.now();
  const latencies: number[] = [];
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (performance.now() - started < ms) {
      const t0 = performance.now();
      await send(t);
      if (t0 - started >= SETTLE_MS) latencies.push(performance.now() - t0);
    }
  }));
  return latencies;
}

for (const t of targets) await turn(t, 3000, 16); // warm-up, discarded
const loads = { c1: 1, c16: 16 } as const;
const summary: Record<string, Record<string, { p50: number; p99: number; throughput: number; requests: number }>> = {};
for (const [load, concurrency] of Object.entries(loads)) {
  const all: Record<string, number[]> = Object.fromEntries(targets.map((t) => [label(t), []]));
  for (let cycle = 0; cycle < seconds; cycle++)
    for (let k = 0; k < targets.length; k++) {
      const t = targets[(k + cycle) % targets.length]; // each cycle starts one target further along
      all[label(t)].push(...(await turn(t, TURN_MS, concurrency)));
    }
  summary[load] = Object.fromEntries(
    targets.map((t) => {
      const xs = all[label(t)];
      const s = latencySummary(xs);
      return [label(t), { p50: round(s.p50, 3), p99: round(s.p99, 3), throughput: round(xs.length / ((seconds * (TURN_MS - SETTLE_MS)) / 1000), 1), requests: xs.length }];
    }),
  );
  process.stderr.write(`${load}: ${JSON.stringify(summary[load])}\n`);
}
const peak: Record<Server, number> = { bare: mb((await ask<{ peakRssBytes: number }>(servers.bare.child, "rss")).peakRssBytes), evoflow: mb((await ask<{ peakRssBytes: number }>(servers.evoflow.child, "rss")).peakRssBytes) };
for (const c of Object.values(clients)) c.close();
for (const s of Object.values(servers)) await stopChild(s.child);

const ratio = (load: string, protocol: string, what: "p50" | "p99" | "throughput") => round(summary[load][`evoflow-${protocol}`][what] / summary[load][`bare-${protocol}`][what]);
const command = `node --import tsx bench/grpc-path.ts --seconds ${seconds}`;
const report = { benchmark: "grpc-path", date: new Date().toISOString(), command, machine: machine(), secondsPerTarget: seconds, summary, ratios: Object.fromEntries(Object.keys(loads).map((l) => [l, { rest: { p50: ratio(l, "rest", "p50"), p99: ratio(l, "rest", "p99") }, grpc: { p50: ratio(l, "grpc", "p50"), p99: ratio(l, "grpc", "p99") } }])), serverPeakRssMb: peak };
writeFileSync(join(benchDir, "results/grpc-path.json"), `${JSON.stringify(report, null, 2)}\n`);
const m = report.machine;
const row = (load: string, name: string) =>
  (["rest", "grpc"] as const).map((p) => `| ${name} | ${p === "rest" ? "REST (JSON)" : "gRPC (raw)"} | ${summary[load][`bare-${p}`].p50} | ${summary[load][`evoflow-${p}`].p50} | ${ratio(load, p, "p50")} | ${summary[load][`bare-${p}`].p99} | ${summary[load][`evoflow-${p}`].p99} | ${ratio(load, p, "p99")} | ${summary[load][`bare-${p}`].throughput} | ${summary[load][`evoflow-${p}`].throughput} |`).join("\n");
const met = (v: number) => (v <= 1.05 ? "met" : "NOT met");
const md = `# The sync path over gRPC and REST, against bare onnxruntime-node servers

Command: \`${command}\` — ${report.date}

Machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGB} GB, Node ${m.node}; 1-minute load average at the end ${m.loadAverage1m} (the machine is shared with other jobs).

MLP 784-128-10, batch 1. **bare**: fastify + onnxruntime-node (REST, JSON v2 body) and a grpc-js server on the same session (KServe's ModelInfer, raw contents); **evoflow**: the pipeline \`io.http → model.onnx\` over its v2 REST route and its gRPC service (raw contents), provenance and taps on. Each server in its own process with \`evoflow run\`'s V8 settings; this process drives both protocols (fetch with keep-alive, a grpc-js client), the four targets in turns of 1 s (first 0.1 s not measured), ${seconds} turns each, after a discarded warm-up. Latency in ms, throughput in requests/s.

| load | protocol | bare p50 | evoflow p50 | ratio | bare p99 | evoflow p99 | ratio | bare req/s | evoflow req/s |
| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |
${row("c1", "1 client")}
${row("c16", "16 clients")}

Target (evoflow ≤ 1.05 × bare on p50, each protocol): 1 client: REST ${met(ratio("c1", "rest", "p50"))}, gRPC ${met(ratio("c1", "grpc", "p50"))}; 16 clients: REST ${met(ratio("c16", "rest", "p50"))}, gRPC ${met(ratio("c16", "grpc", "p50"))}.

Peak RSS: bare ${peak.bare} MB, evoflow ${peak.evoflow} MB (each serving both protocols).
`;
writeFileSync(join(benchDir, "results/grpc-path.md"), md);
process.stdout.write(md);
