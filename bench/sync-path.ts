/**
 * Sync path overhead: the same ONNX model (784-128-10 MLP) behind
 *   (a) a bare fastify + onnxruntime-node handler, and
 *   (b) an Evoflow sync pipeline `io.http → model.onnx` over the v2 endpoint,
 * in the same run, each in its own process, driven by a load generator in a third
 * process (closed loop on loopback). Alternates a and b over several rounds, at
 * concurrency 1 (latency) and 16 (throughput), and reports the median round.
 * Writes bench/results/sync-path.json and .md.
 *
 * Run: node --import tsx bench/sync-path.ts [--rounds 3] [--seconds 8]
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { makeMlp, randomFloats } from "../test/fixtures/mlp";
import { ask, benchDir, forkChild, SERVER_NODE_FLAGS, latencySummary, machine, mb, round, runLoad, stopChild } from "./agent-bench-lib";

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const rounds = arg("rounds", 3);
const seconds = arg("seconds", 8);

const mlp = makeMlp({ sizes: [784, 128, 10], seed: 7, softmax: true });
const modelFile = join(mkdtempSync(join(tmpdir(), "evoflow-syncpath-")), "mnist.onnx");
writeFileSync(modelFile, mlp.bytes);
// One image per request, as JSON: the same body for both servers.
const image = randomFloats(784, 3);
const body = JSON.stringify({ inputs: [{ name: "input", shape: [1, 784], datatype: "FP32", data: Array.from(image) }] });

type Ready = { port: number; path: string };
const servers = {
  a: await forkChild<Ready>("sync-path-server.ts", ["bare", modelFile], SERVER_NODE_FLAGS),
  b: await forkChild<Ready>("sync-path-server.ts", ["evoflow", modelFile], SERVER_NODE_FLAGS),
};

// Both must answer the same thing before anything is timed.
for (const s of Object.values(servers)) {
  const res = await fetch(`http://127.0.0.1:${s.ready.port}${s.ready.path}`, { method: "POST", headers: { "content-type": "application/json" }, body });
  const out = (await res.json()) as { outputs: { data: number[] }[] };
  const expected = mlp.forward(image, 1);
  if (!out.outputs[0].data.every((v, i) => Math.abs(v - expected[i]) < 1e-4)) throw new Error(`server ${s.ready.path} answers wrongly`);
}

// One discarded warm-up run per server first (JIT, heap sizing, the pipeline's trace ring filling up).
for (const s of Object.values(servers))
  await runLoad({ url: `http://127.0.0.1:${s.ready.port}`, targets: [{ path: s.ready.path, body }], pick: "round", concurrency: 16, warmupMs: 0, durationMs: 5000, maxRequests: 1_000_000 });

interface Figures { p50: number; p99: number; throughput: number; requests: number; errors: number; clientPeakRssMb: number }
const runs: Record<string, Record<string, Figures[]>> = { c1: { a: [], b: [] }, c16: { a: [], b: [] } };
for (let r = 0; r < rounds; r++) {
  for (const [mode, concurrency] of [["c1", 1], ["c16", 16]] as const) {
    // Alternate which server goes first, so neither always runs right after the other.
    for (const which of r % 2 === 0 ? (["a", "b"] as const) : (["b", "a"] as const)) {
      const s = servers[which].ready;
      const result = await runLoad({
        url: `http://127.0.0.1:${s.port}`, targets: [{ path: s.path, body }], pick: "round",
        concurrency, warmupMs: 2000, durationMs: seconds * 1000, maxRequests: 1_000_000,
      });
      const ok = result.status.map((st, i) => (st === 200 ? result.end[i] - result.start[i] : -1)).filter((l) => l >= 0);
      const lat = latencySummary(ok);
      const figures = { p50: lat.p50, p99: lat.p99, throughput: round((ok.length / result.elapsedMs) * 1000, 1), requests: result.status.length, errors: result.status.length - ok.length, clientPeakRssMb: mb(result.peakRssBytes) };
      runs[mode][which].push(figures);
      process.stderr.write(`round ${r + 1} ${mode} ${which}: p50 ${figures.p50} ms, p99 ${figures.p99} ms, ${figures.throughput} req/s\n`);
    }
  }
}
const peak = {
  a: mb((await ask<{ peakRssBytes: number }>(servers.a.child, "rss")).peakRssBytes),
  b: mb((await ask<{ peakRssBytes: number }>(servers.b.child, "rss")).peakRssBytes),
};
await stopChild(servers.a.child);
await stopChild(servers.b.child);

const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];
const summary = Object.fromEntries(
  Object.entries(runs).map(([mode, r]) => {
    const a = { p50: median(r.a.map((f) => f.p50)), p99: median(r.a.map((f) => f.p99)), throughput: median(r.a.map((f) => f.throughput)) };
    const b = { p50: median(r.b.map((f) => f.p50)), p99: median(r.b.map((f) => f.p99)), throughput: median(r.b.map((f) => f.throughput)) };
    return [mode, { a, b, ratio: { p50: round(b.p50 / a.p50), p99: round(b.p99 / a.p99), throughput: round(b.throughput / a.throughput) } }];
  }),
);
const command = `node --import tsx bench/sync-path.ts --rounds ${rounds} --seconds ${seconds}`;
const report = { benchmark: "sync-path", date: new Date().toISOString(), command, machine: machine(), model: "MLP 784-128-10 (softmax), batch 1, JSON v2 request", rounds, secondsPerRun: seconds, warmupSeconds: 2, serverPeakRssMb: peak, summary, runs };
writeFileSync(join(benchDir, "results/sync-path.json"), `${JSON.stringify(report, null, 2)}\n`);

const verdict = (ok: boolean) => (ok ? "met" : "NOT met");
const row = (mode: string, label: string) => {
  const s = summary[mode];
  return `| ${label} | ${s.a.p50} | ${s.b.p50} | ${s.ratio.p50} | ${s.a.p99} | ${s.b.p99} | ${s.ratio.p99} | ${s.a.throughput} | ${s.b.throughput} | ${s.ratio.throughput} |`;
};
const m = report.machine;
const md = `# Sync path overhead: bare fastify + onnxruntime vs Evoflow pipeline over v2

Command: \`${command}\` — ${report.date}

Machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGB} GB, Node ${m.node} (${m.platform}); 1-minute load average at the end ${m.loadAverage1m} (the machine is shared with other jobs). Servers and load generator each in their own process on loopback; both servers run with the CLI's Node flags (\`${SERVER_NODE_FLAGS.join(" ")}\`).

Model: ${report.model}. (a) bare fastify + onnxruntime-node handler (same session options as the agent: CPU, 1 intra-op thread); (b) Evoflow pipeline \`io.http → model.onnx\` (registry champion, in-process agent, dynamic batching on) at \`/v2/models/classify/infer\`. Same request body; after a discarded 5 s warm-up run per server, a and b alternate (each goes first in every other round), ${rounds} rounds of ${seconds} s (each after a 2 s warm-up); median round shown. Latency in ms, throughput in requests/s.

| load | a p50 | b p50 | b/a | a p99 | b p99 | b/a | a req/s | b req/s | b/a |
| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |
${row("c1", "1 client")}
${row("c16", "16 clients")}

Targets (latency ≤ 1.10 × a, throughput ≥ 0.9 × a): ${(["c1", "c16"] as const).map((mode) => `${mode === "c1" ? "1 client" : "16 clients"}: p50 ${verdict(summary[mode].ratio.p50 <= 1.1)}, p99 ${verdict(summary[mode].ratio.p99 <= 1.1)}, throughput ${verdict(summary[mode].ratio.throughput >= 0.9)}`).join("; ")}.

Where b's extra time goes (CPU profile of server b, \`--cpu-prof\`): request JSON parsing costs the same in both; b adds the engine hop (envelope, tap, provenance ring), the batcher and v2 decoding/validation, and keeps the last 10,000 messages for \`evoflow trace\` (its higher peak RSS). Figures vary from run to run on a shared machine: compare the load average.

Peak RSS: server a ${peak.a} MB, server b ${peak.b} MB; load generator ≤ ${Math.max(...Object.values(runs).flatMap((r) => [...r.a, ...r.b]).map((f) => f.clientPeakRssMb))} MB.
`;
writeFileSync(join(benchDir, "results/sync-path.md"), md);
process.stdout.write(md);
