/**
 * Sync path overhead: the same ONNX model (784-128-10 MLP) behind
 *   (a) a bare fastify + onnxruntime-node handler, and
 *   (b) an Evoflow sync pipeline `io.http → model.onnx` over the v2 endpoint,
 * in the same run, each in its own process, driven by a load generator in another
 * process (closed loop on loopback). For reference, (c) is (b) with provenance and taps
 * off, to show what keeping them costs. The servers take turns of a second each (the
 * first 0.1 s of a turn not measured), at concurrency 1 (latency) and 16 (throughput), so
 * the shared machine's changing load falls on all three alike; each server's latency
 * percentiles are taken over all its turns, with its CPU time per request (all its
 * threads, from /proc). Then, for where the time goes without the loopback's noise, each
 * server serves requests injected in process (fastify's inject), taking turns over several
 * rounds, and so does (a′), the bare handler reading its body with the v2 endpoint's JSON
 * reader instead of JSON.parse: b's reader is faster than JSON.parse, and (a′) shows what
 * the pipeline costs beyond it.
 * Writes bench/results/sync-path.json and .md.
 *
 * Run: node --import tsx bench/sync-path.ts [--seconds 30] [--rounds 11]
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DEFAULT_TRACE_BYTES } from "../runtime/provenance";
import { makeMlp, randomFloats } from "../test/fixtures/mlp";
import { ask, benchDir, forkChild, RUNTIME_NODE_FLAGS, latencySummary, machine, mb, percentile, round, runLoad, stopChild, numberArg } from "./agent-bench-lib";

/** Seconds of turns each server gets at each load. */
const seconds = numberArg("seconds", 30);
/** Rounds of the in-process measurement. */
const rounds = numberArg("rounds", 11);
const TURN_MS = 1000;
const SETTLE_MS = 100;

const mlp = makeMlp({ sizes: [784, 128, 10], seed: 7, softmax: true });
const modelFile = join(mkdtempSync(join(tmpdir(), "evoflow-syncpath-")), "mnist.onnx");
writeFileSync(modelFile, mlp.bytes);
// One image per request, as JSON: the same body for both servers.
const image = randomFloats(784, 3);
const body = JSON.stringify({ inputs: [{ name: "input", shape: [1, 784], datatype: "FP32", data: Array.from(image) }] });

type Ready = { port: number; path: string };
const servers = {
  a: await forkChild<Ready>("sync-path-server.ts", ["bare", modelFile], RUNTIME_NODE_FLAGS),
  b: await forkChild<Ready>("sync-path-server.ts", ["evoflow", modelFile], RUNTIME_NODE_FLAGS),
  c: await forkChild<Ready>("sync-path-server.ts", ["evoflow-untraced", modelFile], RUNTIME_NODE_FLAGS),
  // In process only.
  aReader: await forkChild<Ready>("sync-path-server.ts", ["bare-reader", modelFile], RUNTIME_NODE_FLAGS),
};
type Which = keyof typeof servers;
type OverHttp = Exclude<Which, "aReader">;
const order: OverHttp[] = ["a", "b", "c"];
const injectedOrder: Which[] = ["a", "aReader", "b", "c"];

/** CPU time (user + system, every thread) a process has used, ms: from /proc, as the servers are not asked mid-run. */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // clock ticks of 1/100 s (USER_HZ on Linux)
}

// Both must answer the same thing before anything is timed.
for (const s of Object.values(servers)) {
  const res = await fetch(`http://127.0.0.1:${s.ready.port}${s.ready.path}`, { method: "POST", headers: { "content-type": "application/json" }, body });
  const out = (await res.json()) as { outputs: { data: number[] }[] };
  const expected = mlp.forward(image, 1);
  if (!out.outputs[0].data.every((v, i) => Math.abs(v - expected[i]) < 1e-4)) throw new Error(`server ${s.ready.path} answers wrongly`);
}

// One discarded warm-up run per server first (JIT, heap sizing, the pipeline's trace ring filling up).
for (const s of order.map((w) => servers[w]))
  await runLoad({ url: `http://127.0.0.1:${s.ready.port}`, targets: [{ path: s.ready.path, body }], pick: "round", concurrency: 16, warmupMs: 0, durationMs: 5000, maxRequests: 1_000_000 });

interface Figures { p50: number; p99: number; throughput: number; cpuUsPerRequest: number; requests: number; errors: number }
const loads = { c1: 1, c16: 16 } as const;
type Load = keyof typeof loads;
const summaryOf: Record<Load, Record<OverHttp, Figures>> = { c1: {} as Record<OverHttp, Figures>, c16: {} as Record<OverHttp, Figures> };
/** b's p50 against a's in each cycle of turns: how much one short comparison moves. */
const cycleRatios: Record<Load, number[]> = { c1: [], c16: [] };
let clientPeakRssMb = 0;
for (const [load, concurrency] of Object.entries(loads) as [Load, number][]) {
  const cpuBefore = order.map((w) => cpuMs(servers[w].child.pid!));
  const result = await runLoad({
    url: "http://127.0.0.1", targets: order.map((w) => ({ url: `http://127.0.0.1:${servers[w].ready.port}`, path: servers[w].ready.path, body })),
    pick: "turns", turnMs: TURN_MS, settleMs: SETTLE_MS, concurrency, warmupMs: 0, durationMs: seconds * order.length * TURN_MS, maxRequests: 10_000_000,
  });
  clientPeakRssMb = Math.max(clientPeakRssMb, mb(result.peakRssBytes));
  const cycleMs = TURN_MS * order.length;
  const cycles = Math.floor(result.elapsedMs / cycleMs);
  order.forEach((which, t) => {
    const mine = result.target.map((target, i) => (target === t ? i : -1)).filter((i) => i >= 0);
    const ok = mine.filter((i) => result.status[i] === 200).map((i) => result.end[i] - result.start[i]);
    const lat = latencySummary(ok);
    // Throughput over the measured part of its turns; CPU over every request it served (its idle time in others' turns included).
    const cpu = cpuMs(servers[which].child.pid!) - cpuBefore[t];
    summaryOf[load][which] = {
      p50: lat.p50, p99: lat.p99, throughput: round((ok.length / (seconds * (TURN_MS - SETTLE_MS))) * 1000, 1), cpuUsPerRequest: round((cpu * 1000) / result.sentByTarget[t], 1),
      requests: mine.length, errors: mine.length - ok.length,
    };
  });
  // Latencies of a's and b's requests by cycle of turns.
  const byCycle = Array.from({ length: cycles }, () => [[], []] as [number[], number[]]);
  result.target.forEach((t, i) => {
    const cycle = Math.floor((result.start[i] - result.begunAt) / cycleMs);
    if (t < 2 && cycle < cycles) byCycle[cycle][t].push(result.end[i] - result.start[i]);
  });
  for (const [a, b] of byCycle) cycleRatios[load].push(round(latencySummary(b).p50 / latencySummary(a).p50));
  process.stderr.write(`${load}: ${order.map((w) => `${w} p50 ${summaryOf[load][w].p50} ms, p99 ${summaryOf[load][w].p99} ms, ${summaryOf[load][w].throughput} req/s, CPU ${summaryOf[load][w].cpuUsPerRequest} µs/request`).join("; ")}\n`);
}
// In process: the same servers, requests injected one after another, CPU per request (median round).
const INJECTED = 20_000;
// Each round is short (~2.5 s), and a single round moves by ±10 µs: the median of many.
const injectedRuns: Record<Which, number[]> = { a: [], aReader: [], b: [], c: [] };
for (let r = 0; r < rounds; r++)
  for (const which of r % 2 === 0 ? injectedOrder : [...injectedOrder].reverse()) {
    const { cpuUsPerRequest } = await ask<{ cpuUsPerRequest: number }>(servers[which].child, { inject: { body, count: INJECTED } });
    injectedRuns[which].push(round(cpuUsPerRequest, 1));
    process.stderr.write(`in process, round ${r + 1} ${which}: ${round(cpuUsPerRequest, 1)} µs CPU/request\n`);
  }
const peak = {} as Record<Which, number>;
for (const which of injectedOrder) peak[which] = mb((await ask<{ peakRssBytes: number }>(servers[which].child, "rss")).peakRssBytes);
for (const which of injectedOrder) await stopChild(servers[which].child);

const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];
const quartiles = (xs: number[]) => { const sorted = [...xs].sort((x, y) => x - y); return [percentile(sorted, 25), percentile(sorted, 50), percentile(sorted, 75)]; };
const summary = Object.fromEntries(
  (Object.keys(loads) as Load[]).map((load) => {
    const { a, b, c } = summaryOf[load];
    const ratio = (x: Figures) => ({ p50: round(x.p50 / a.p50), p99: round(x.p99 / a.p99), throughput: round(x.throughput / a.throughput), cpu: round(x.cpuUsPerRequest / a.cpuUsPerRequest) });
    return [load, { a, b, c, ratio: ratio(b), untracedRatio: ratio(c), p50RatioPerCycle: { quartiles: quartiles(cycleRatios[load]), cycles: cycleRatios[load].length } }];
  }),
);
const inProcess = Object.fromEntries(injectedOrder.map((w) => [w, median(injectedRuns[w])])) as Record<Which, number>;
const command = `node --import tsx bench/sync-path.ts --seconds ${seconds} --rounds ${rounds}`;
const report = { benchmark: "sync-path", date: new Date().toISOString(), command, machine: machine(), model: "MLP 784-128-10 (softmax), batch 1, JSON v2 request", secondsPerServer: seconds, turnMs: TURN_MS, settleMs: SETTLE_MS, serverPeakRssMb: peak, summary, p50RatioPerCycle: cycleRatios, inProcessCpuUsPerRequest: { median: inProcess, runs: injectedRuns, rounds, requestsPerRun: INJECTED } };
writeFileSync(join(benchDir, "results/sync-path.json"), `${JSON.stringify(report, null, 2)}\n`);

const verdict = (ok: boolean) => (ok ? "met" : "NOT met");
const row = (mode: string, label: string) => {
  const s = summary[mode];
  return `| ${label} | ${s.a.p50} | ${s.b.p50} | ${s.ratio.p50} | ${s.a.p99} | ${s.b.p99} | ${s.ratio.p99} | ${s.a.throughput} | ${s.b.throughput} | ${s.ratio.throughput} |`;
};
const cpuRow = (mode: string, label: string) => {
  const s = summary[mode];
  return `| ${label} | ${s.a.cpuUsPerRequest} | ${s.b.cpuUsPerRequest} (${s.ratio.cpu}×) | ${s.c.cpuUsPerRequest} (${s.untracedRatio.cpu}×) | ${s.c.p50} (${s.untracedRatio.p50}×) | ${s.c.p99} (${s.untracedRatio.p99}×) | ${s.c.throughput} (${s.untracedRatio.throughput}×) |`;
};
const one = summary.c1;
const EXPLANATION = `Where the time goes, at 1 client (CPU profiles of both servers, \`--cpu-prof\`): reading the request's JSON (784 numbers) is the largest cost of both. a reads it with fastify's JSON.parse, which converts each 17-digit decimal exactly to a double before the handler rounds it to float32; b's v2 endpoint reads the numbers of tensor data straight from the body into float32 (\`gpu-agent/v2-json.ts\`: bit for bit the same tensor, about 2.5 times as fast). b adds the v2 layer (raw body, request check, tensor encode), the engine hop (envelope, tap record), the model node, batcher and host bookkeeping, and the provenance it keeps for \`evoflow trace\`: its last 10,000 messages, those carrying tensors written into ${DEFAULT_TRACE_BYTES / 1024 / 1024} MiB of byte chunks (the tensors' bytes copied as they are emitted, the rest CBOR-encoded by a timer at the next turn of the event loop, after the reply), the others kept as objects. No timer, worker thread or extra event-loop turn of Evoflow's is on the request's path (an idle batcher runs a lone request at once; sessions run in the main thread; onnxruntime-node runs every session from an immediate, in both servers). With provenance and taps off (c), in this run: p50 ${one.untracedRatio.p50}× a, CPU ${one.untracedRatio.cpu}× a (b: ${one.ratio.p50}×, ${one.ratio.cpu}×). Figures vary widely from run to run on a shared machine: compare the load average.\n\nIn process, without the sockets (each server serving ${INJECTED.toLocaleString("en")} requests injected one after another with \`fastify.inject\`, taking turns over ${rounds} rounds, median round), CPU per request: a ${inProcess.a} µs, b ${inProcess.b} µs (${round(inProcess.b / inProcess.a)}×), c ${inProcess.c} µs (${round(inProcess.c / inProcess.a)}×), and a′, the bare handler reading its body with b's JSON reader, ${inProcess.aReader} µs: the reader saves ${round(inProcess.a - inProcess.aReader, 1)} µs a request; beyond it, the pipeline and the rest of the v2 layer cost ${round(inProcess.c - inProcess.aReader, 1)} µs, provenance and taps ${round(inProcess.b - inProcess.c, 1)} µs.`;
const m = report.machine;
const md = `# Sync path overhead: bare fastify + onnxruntime vs Evoflow pipeline over v2

Command: \`${command}\` — ${report.date}

Machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGB} GB, Node ${m.node} (${m.platform}); 1-minute load average at the end ${m.loadAverage1m} (the machine is shared with other jobs). Servers and load generator each in their own process on loopback; the servers run with \`evoflow run\`'s V8 settings (\`${RUNTIME_NODE_FLAGS.join(" ")}\`).

Model: ${report.model}. (a) bare fastify + onnxruntime-node handler (same session options as the agent: CPU, 1 intra-op thread); (b) Evoflow pipeline \`io.http → model.onnx\` (registry champion, in-process agent with sessions in the main thread, dynamic batching on, provenance and taps on as shipped) at \`/v2/models/classify/infer\`; (c), for reference only, (b) with \`settings: {traceCapacity: 0, tapCapacity: 0}\`. Same request body; after a discarded 5 s warm-up run per server, one load generator sends to the servers in turns of ${TURN_MS / 1000} s, ${seconds} turns each (each cycle of turns starts one server further along), so that the shared machine's changing load falls on all alike; the first ${SETTLE_MS} ms of a turn are not measured (the server's caches are cold after the others' turns). Percentiles over all of a server's measured requests. Latency in ms, throughput in requests/s.

| load | a p50 | b p50 | b/a | a p99 | b p99 | b/a | a req/s | b req/s | b/a |
| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |
${row("c1", "1 client")}
${row("c16", "16 clients")}

Targets (latency ≤ 1.10 × a, throughput ≥ 0.9 × a): ${(["c1", "c16"] as const).map((mode) => `${mode === "c1" ? "1 client" : "16 clients"}: p50 ${verdict(summary[mode].ratio.p50 <= 1.1)}, p99 ${verdict(summary[mode].ratio.p99 <= 1.1)}, throughput ${verdict(summary[mode].ratio.throughput >= 0.9)}`).join("; ")}.

How much a short comparison moves: b's p50 over a's within each cycle of turns (${(TURN_MS * order.length) / 1000} s), quartiles over the ${summary.c1.p50RatioPerCycle.cycles} cycles: 1 client ${summary.c1.p50RatioPerCycle.quartiles.join(" / ")}, 16 clients ${summary.c16.p50RatioPerCycle.quartiles.join(" / ")}.

Server CPU per request (µs, every thread of the server process: main thread, onnxruntime, GC helpers), and (c) against (a):

| load | a CPU | b CPU | c CPU (no provenance) | c p50 | c p99 | c req/s |
| --- | ---: | ---: | ---: | ---: | ---: | ---: |
${cpuRow("c1", "1 client")}
${cpuRow("c16", "16 clients")}

${EXPLANATION}

Peak RSS: server a ${peak.a} MB, server b ${peak.b} MB, server c ${peak.c} MB, server a′ ${peak.aReader} MB; load generator ≤ ${clientPeakRssMb} MB.
`;
writeFileSync(join(benchDir, "results/sync-path.md"), md);
process.stdout.write(md);
