/**
 * What the access checks cost on the sync path (issue 18): the Evoflow sync pipeline
 * `io.http → model.onnx` over `/v2/models/classify/infer` (bench/sync-path-server.ts),
 *   (on)  as shipped: a token asked for and checked (Authorization: Bearer, SHA-256 and
 *         timingSafeEqual), its role looked up, Host, Origin and content type checked;
 *   (off) the same server with no access checks at all (createApiWithoutAccessChecks).
 * Both get the same requests, Authorization header included. Same run, each server in its
 * own process, one load generator in another (closed loop on loopback) sending to them in
 * turns of a second (the first 0.1 s of a turn not measured), at 1 client (latency) and 16
 * (throughput), so the shared machine's changing load falls on both alike; CPU per request
 * from /proc. Then each serves requests injected in process (fastify's inject, no sockets),
 * taking turns over several rounds: CPU per request, median round; and the checks' own time,
 * each call timed in process. Peak RSS of each.
 * Target: on ≤ 1.02 × off (p50, p99; throughput ≥ 0.98 ×).
 * Writes bench/results/auth-overhead.json and .md.
 *
 * Run: node --import tsx bench/auth-overhead.ts [--seconds 30] [--rounds 11]
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { makeMlp, randomFloats } from "../test/fixtures/mlp";
import { ask, benchDir, forkChild, RUNTIME_NODE_FLAGS, latencySummary, machine, mb, round, runLoad, stopChild, numberArg, pinToCore } from "./agent-bench-lib";

const seconds = numberArg("seconds", 30);
const rounds = numberArg("rounds", 11);
const TURN_MS = 1000;
const SETTLE_MS = 100;
const INJECTED = 20_000;

const mlp = makeMlp({ sizes: [784, 128, 10], seed: 7, softmax: true });
const modelFile = join(mkdtempSync(join(tmpdir(), "evoflow-authbench-")), "mnist.onnx");
writeFileSync(modelFile, mlp.bytes);
const image = randomFloats(784, 3);
const body = JSON.stringify({ inputs: [{ name: "input", shape: [1, 784], datatype: "FP32", data: Array.from(image) }] });
const token = randomBytes(32).toString("base64url");
const headers = { authorization: `Bearer ${token}` };

type Ready = { port: number; path: string };
const servers = {
  on: await forkChild<Ready>("sync-path-server.ts", ["evoflow-token", modelFile, token], RUNTIME_NODE_FLAGS),
  off: await forkChild<Ready>("sync-path-server.ts", ["evoflow-unchecked", modelFile], RUNTIME_NODE_FLAGS),
};
type Which = keyof typeof servers;
const order: Which[] = ["on", "off"];
// Where each process runs changes a 1-client latency more than the checks do (a server woken on
// the load generator's core or on another): both servers share one core and the load generator
// (inherited by its child) and this process the other, so the placement is the same for both.
const pinned = availableParallelism() >= 2;
if (pinned) {
  for (const w of order) pinToCore(servers[w].child.pid!, 1);
  pinToCore(process.pid, 0);
}
const urlOf = (w: Which) => `http://127.0.0.1:${servers[w].ready.port}${servers[w].ready.path}`;

function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // clock ticks of 1/100 s (USER_HZ on Linux)
}

// Both answer the same, and "on" really checks: without the token it refuses.
for (const w of order) {
  const out = (await (await fetch(urlOf(w), { method: "POST", headers: { ...headers, "content-type": "application/json" }, body })).json()) as { outputs: { data: number[] }[] };
  const expected = mlp.forward(image, 1);
  if (!out.outputs[0].data.every((v, i) => Math.abs(v - expected[i]) < 1e-4)) throw new Error(`server ${w} answers wrongly`);
}
const refused = await fetch(urlOf("on"), { method: "POST", headers: { "content-type": "application/json" }, body });
if (refused.status !== 401) throw new Error(`the checked server answered ${refused.status} without a token`);

for (const w of order)
  await runLoad({ url: `http://127.0.0.1:${servers[w].ready.port}`, targets: [{ path: servers[w].ready.path, body, headers }], pick: "round", concurrency: 16, warmupMs: 0, durationMs: 5000, maxRequests: 1_000_000 });

interface Figures { p50: number; p99: number; throughput: number; cpuUsPerRequest: number; requests: number; errors: number }
const loads = { c1: 1, c16: 16 } as const;
type Load = keyof typeof loads;
const summaryOf = { c1: {}, c16: {} } as Record<Load, Record<Which, Figures>>;
let clientPeakRssMb = 0;
for (const [load, concurrency] of Object.entries(loads) as [Load, number][]) {
  const cpuBefore = order.map((w) => cpuMs(servers[w].child.pid!));
  const result = await runLoad({
    url: "http://127.0.0.1",
    targets: order.map((w) => ({ url: `http://127.0.0.1:${servers[w].ready.port}`, path: servers[w].ready.path, body, headers })),
    pick: "turns", turnMs: TURN_MS, settleMs: SETTLE_MS, concurrency, warmupMs: 0, durationMs: seconds * order.length * TURN_MS, maxRequests: 10_000_000,
  });
  clientPeakRssMb = Math.max(clientPeakRssMb, mb(result.peakRssBytes));
  order.forEach((which, t) => {
    const mine = result.target.map((target, i) => (target === t ? i : -1)).filter((i) => i >= 0);
    const ok = mine.filter((i) => result.status[i] === 200).map((i) => result.end[i] - result.start[i]);
    const lat = latencySummary(ok);
    const cpu = cpuMs(servers[which].child.pid!) - cpuBefore[t];
    summaryOf[load][which] = {
      p50: lat.p50, p99: lat.p99, throughput: round((ok.length / (seconds * (TURN_MS - SETTLE_MS))) * 1000, 1), cpuUsPerRequest: round((cpu * 1000) / result.sentByTarget[t], 1),
      requests: mine.length, errors: mine.length - ok.length,
    };
  });
  process.stderr.write(`${load}: ${order.map((w) => `${w} p50 ${summaryOf[load][w].p50} ms, p99 ${summaryOf[load][w].p99} ms, ${summaryOf[load][w].throughput} req/s, ${summaryOf[load][w].errors} errors`).join("; ")}\n`);
}

const injectedRuns: Record<Which, number[]> = { on: [], off: [] };
for (let r = 0; r < rounds; r++)
  for (const which of r % 2 === 0 ? order : [...order].reverse()) {
    const { cpuUsPerRequest } = await ask<{ cpuUsPerRequest: number }>(servers[which].child, { inject: { body, count: INJECTED, headers } });
    injectedRuns[which].push(round(cpuUsPerRequest, 1));
  }
// One process, one runtime, two apps (with and without the checks) taking turns: what stays is the checks' own cost.
const sameProcess: Record<Which, number[]> = { on: [], off: [] };
for (let r = 0; r < rounds; r++)
  for (const which of r % 2 === 0 ? order : [...order].reverse()) {
    const { cpuUsPerRequest } = await ask<{ cpuUsPerRequest: number }>(servers.on.child, { inject: { body, count: INJECTED, headers, twin: which === "off" } });
    sameProcess[which].push(round(cpuUsPerRequest, 1));
  }
// The checks' own time, each call timed with the clock inside the same process: no noise of JIT or placement between apps.
const checkNs: number[] = [];
for (let r = 0; r < rounds; r++)
  checkNs.push(round((await ask<{ checkNsPerRequest: number }>(servers.on.child, { timeChecks: { body, count: INJECTED, headers } })).checkNsPerRequest, 0));
const peak = {} as Record<Which, number>;
for (const w of order) peak[w] = mb((await ask<{ peakRssBytes: number }>(servers[w].child, "rss")).peakRssBytes);
for (const w of order) await stopChild(servers[w].child);

const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];
const inProcess = { on: median(injectedRuns.on), off: median(injectedRuns.off) };
const oneProcess = { on: median(sameProcess.on), off: median(sameProcess.off) };
const checkUs = round(median(checkNs) / 1000, 2);
const checkShare = round(checkUs / oneProcess.off, 4);
const ratios = Object.fromEntries(
  (Object.keys(loads) as Load[]).map((load) => {
    const { on, off } = summaryOf[load];
    return [load, { p50: round(on.p50 / off.p50), p99: round(on.p99 / off.p99), throughput: round(on.throughput / off.throughput), cpu: round(on.cpuUsPerRequest / off.cpuUsPerRequest) }];
  }),
) as Record<Load, { p50: number; p99: number; throughput: number; cpu: number }>;
const command = `node --import tsx bench/auth-overhead.ts --seconds ${seconds} --rounds ${rounds}`;
const report = { benchmark: "auth-overhead", date: new Date().toISOString(), command, machine: machine(), secondsPerServer: seconds, turnMs: TURN_MS, settleMs: SETTLE_MS, summary: summaryOf, ratios, inProcessCpuUsPerRequest: { median: inProcess, runs: injectedRuns, rounds, requestsPerRun: INJECTED }, oneProcessCpuUsPerRequest: { median: oneProcess, runs: sameProcess }, checksOwnNsPerRequest: { median: median(checkNs), runs: checkNs, shareOfRequestCpu: checkShare }, serverPeakRssMb: peak, clientPeakRssMb };
writeFileSync(join(benchDir, "results/auth-overhead.json"), `${JSON.stringify(report, null, 2)}\n`);

const met = (ok: boolean) => (ok ? "met" : "NOT met");
const row = (load: Load, label: string) => {
  const { on, off } = summaryOf[load];
  const r = ratios[load];
  return `| ${label} | ${off.p50} | ${on.p50} | ${r.p50} | ${off.p99} | ${on.p99} | ${r.p99} | ${off.throughput} | ${on.throughput} | ${r.throughput} | ${off.cpuUsPerRequest} | ${on.cpuUsPerRequest} |`;
};
const m = report.machine;
const md = `# The cost of the access checks on the sync path

Command: \`${command}\` — ${report.date}

Machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGB} GB, Node ${m.node} (${m.platform}); 1-minute load average at the end ${m.loadAverage1m} (the machine is shared with other jobs). Servers and load generator each in their own process on loopback, the servers with \`evoflow run\`'s V8 settings (\`${RUNTIME_NODE_FLAGS.join(" ")}\`).

The Evoflow pipeline \`io.http → model.onnx\` (MLP 784-128-10, batch 1, JSON v2 request) at \`/v2/models/classify/infer\`: **on** as shipped (token checked by SHA-256 and timingSafeEqual, role looked up, Host, Origin and content type checked: runtime/api/auth.ts), **off** the same server with no access checks. Both get the same request, \`Authorization: Bearer\` included. After a discarded 5 s warm-up run each, one load generator sends to both in turns of ${TURN_MS / 1000} s, ${seconds} turns each, the first ${SETTLE_MS} ms of a turn not measured${pinned ? "; both servers pinned to one core, the load generator to the other (taskset), so both are placed alike" : ""}. Latency in ms, throughput in requests/s, server CPU in µs per request (every thread).

| load | off p50 | on p50 | on/off | off p99 | on p99 | on/off | off req/s | on req/s | on/off | off CPU | on CPU |
| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |
${row("c1", "1 client")}
${row("c16", "16 clients")}

Target (on ≤ 1.02 × off in p50 and p99, throughput ≥ 0.98 ×): ${(["c1", "c16"] as const).map((l) => `${l === "c1" ? "1 client" : "16 clients"}: p50 ${met(ratios[l].p50 <= 1.02)}, p99 ${met(ratios[l].p99 <= 1.02)}, throughput ${met(ratios[l].throughput >= 0.98)}`).join("; ")}.

In process, without the sockets (${INJECTED.toLocaleString("en")} requests injected one after another with \`fastify.inject\`, taking turns over ${rounds} rounds, median round), CPU per request: off ${inProcess.off} µs, on ${inProcess.on} µs (${round(inProcess.on / inProcess.off)}×, ${round(inProcess.on - inProcess.off, 1)} µs a request).

In one process (the checked server's, its runtime served by a second app without the checks; the two injected in turns the same way), CPU per request: off ${oneProcess.off} µs, on ${oneProcess.on} µs (**${round(oneProcess.on / oneProcess.off)}×**, ${round(oneProcess.on - oneProcess.off, 1)} µs a request). Between two processes the same code differs by a few µs a request either way (JIT and GC luck, placement), as much as the checks cost; within one process only the checks differ.

The checks' own time, each call timed inside that process (the same checks added to a third app, \`process.hrtime\` around each, the clock's own cost taken off; median of ${rounds} rounds of ${INJECTED.toLocaleString("en")} requests): **${checkUs} µs a request, ${round(checkShare * 100, 2)}% of the request's ${oneProcess.off} µs of CPU** — the cost without the noise that sits around the ratios above.

Peak RSS: on ${peak.on} MB, off ${peak.off} MB; load generator ≤ ${clientPeakRssMb} MB.
`;
writeFileSync(join(benchDir, "results/auth-overhead.md"), md);
process.stdout.write(md);
