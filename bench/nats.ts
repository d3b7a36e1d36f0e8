/**
 * The nats transport against raw NATS with the same client library, in one run on one
 * nats-server (file storage):
 *
 *   (a) raw JetStream: publish (≤ 1024 PubAcks outstanding) + one durable pull consumer, explicit acks
 *   (b) a 3-hop async pipeline: source (this process) → stamp (worker 1) → tag (worker 2) → sink
 *       (this process, the coordinator), every hop a JetStream edge; worker 1 and 2 are `evoflow worker`
 *   (c) one sync hop (io.http → transform.set on worker 1) against a raw NATS request to an echo process
 *   (d) the same sync hop with `settings.capture.sync` off / sampled (1 %) / full
 *
 * Each of (a) and (b) runs flooded (as fast as it goes: msgs/s) and paced (1,000 msgs/s:
 * end-to-end latency without queueing). Peak RSS of this process and of each worker is recorded.
 *
 *   node --import tsx bench/nats.ts      # writes bench/results/nats.{json,md}
 *   BENCH_PROFILE=DIR node --import tsx bench/nats.ts   # also writes the workers' CPU profiles (node --cpu-prof) into DIR
 */
import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir, totalmem } from "node:os";
import { join, resolve } from "node:path";
import { AckPolicy, jetstream, jetstreamManager, StorageType } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { allNodes } from "../nodes";
import sink from "../nodes/io/sink";
import { defineNode, type NodeDefinition } from "../sdk/contract";
import { NodeTypes } from "../runtime/node-types";
import { Runtime } from "../runtime/runtime";
import { decode, encode } from "../runtime/transport/nats-codec";
import { NatsTransport } from "../runtime/transport/nats";
import { NatsServer } from "../test/nats/server";
import { procRss } from "./agent-bench-lib";
import { workerLaunchFlags } from "../runtime/cli/worker-launch.mjs";

const FLOOD = Number(process.env.BENCH_FLOOD ?? 30_000);
/** Flooded runs of each of (a) and (b), taking turns; the median is reported. */
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const PACED_RATE = 1000;
const PACED = 5_000;
const WARMUP = 5_000;
const SYNC_CALLS = 2_000;
const SYNC_CONCURRENT_CALLS = 8_000;
const CONCURRENCY = 32;
const FEATURES = 16;
const ROOT = resolve(import.meta.dirname, "..");

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

function latencySummary(ms: number[]): { p50: number; p99: number; mean: number } {
  const s = [...ms].sort((a, b) => a - b);
  const round = (v: number) => Math.round(v * 1000) / 1000;
  return { p50: round(percentile(s, 50)), p99: round(percentile(s, 99)), mean: round(s.reduce((a, b) => a + b, 0) / s.length) };
}

/** CPU seconds (user + system) a process has used so far, from /proc. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
}

/** Peak RSS of a child, MB, from /proc before it exits. */
const peakRssMB = (pid: number) => Math.round(procRss(pid, "VmHWM") / 2 ** 20) || undefined;

const PROFILE_DIR = process.env.BENCH_PROFILE;

function spawnWaiting(args: string[], ready: RegExp): Promise<ChildProcess> {
  const profile = PROFILE_DIR ? ["--cpu-prof", `--cpu-prof-dir=${PROFILE_DIR}`] : [];
  const child = spawn(process.execPath, [...profile, ...args], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  return new Promise((resolveReady, reject) => {
    const onData = (c: Buffer) => {
      out += c.toString();
      if (ready.test(out)) resolveReady(child);
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", (c: Buffer) => process.stderr.write(c));
    child.once("exit", (code) => reject(new Error(`${args.join(" ")} exited ${code}:\n${out}`)));
  });
}

/** A payload like the generator's: {i, x: 16 numbers}, plus the send time. */
const payload = (i: number) => ({ i, x: Array.from({ length: FEATURES }, (_, k) => Math.sin(i + k)) });

// ---- (a) raw JetStream -----------------------------------------------------------------

async function rawJetStream(url: string, label: string, count: number, rate: number): Promise<{ msgsPerSecond: number; latencyMs: ReturnType<typeof latencySummary> }> {
  const pub = await connect({ servers: url });
  const sub = await connect({ servers: url });
  const jsm = await jetstreamManager(pub);
  const name = `RAW_${label}`;
  await jsm.streams.add({ name, subjects: [`raw_${label}.>`], storage: StorageType.File, duplicate_window: 120e9 });
  await jsm.consumers.add(name, { durable_name: "raw", ack_policy: AckPolicy.Explicit, filter_subject: `raw_${label}.edge`, max_ack_pending: 4096 });
  const consumer = await jetstream(sub).consumers.get(name, "raw");
  const messages = await consumer.consume({ max_messages: 256 });
  const latencies: number[] = [];
  let last = 0;
  const consumed = (async () => {
    for await (const m of messages) {
      const envelope = decode(m.data) as { ts: number };
      latencies.push(performance.timeOrigin + performance.now() - envelope.ts);
      m.ack();
      if (latencies.length === count) {
        last = performance.now();
        break;
      }
    }
  })();
  const js = jetstream(pub);
  const started = performance.now();
  let outstanding = 0;
  const waiters: (() => void)[] = [];
  for (let i = 0; i < count; i++) {
    if (rate > 0) {
      const wait = started + (i / rate) * 1000 - performance.now();
      if (wait > 1) await sleep(wait);
    }
    while (outstanding >= 1024) await new Promise<void>((r) => waiters.push(r));
    outstanding++;
    const data = encode({ id: `m${i}`, traceId: "t", parents: [], ts: Date.now(), source: { pipeline: "raw", node: "gen", port: "out" }, payload: payload(i) });
    js.publish(`raw_${label}.edge`, data, { msgID: `m${i}` })
      .catch((err) => process.stderr.write(`raw publish failed: ${(err as Error).message}\n`))
      .finally(() => {
        outstanding--;
        waiters.shift()?.();
      });
  }
  await consumed;
  while (outstanding > 0) await new Promise<void>((r) => waiters.push(r));
  await messages.close();
  await pub.close();
  await sub.close();
  return { msgsPerSecond: Math.round(count / ((last - started) / 1000)), latencyMs: latencySummary(latencies) };
}

// ---- (b) the 3-hop pipeline ------------------------------------------------------------

/** The real io.sink declaration, its handler wrapped to time arrivals against the stamp the first hop put in. */
const arrivals: Record<string, { latencies: number[]; last: number; done?: () => void; expected: number }> = {};
const timedSink: NodeDefinition = defineNode({
  ...(sink as NodeDefinition),
  create: async (ctx, config) => {
    const inner = await sink.create(ctx, config as never);
    return {
      ...inner,
      async onMessage(port, message, emit) {
        const a = arrivals[ctx.pipeline];
        a.latencies.push(Date.now() - (message.payload as { t0: number }).t0);
        a.last = performance.now();
        if (a.latencies.length === a.expected) a.done?.();
        await inner.onMessage?.(port, message, emit);
      },
    };
  },
});
const benchNodeTypes = new NodeTypes(allNodes.map((d) => (d.type === "io.sink" ? timedSink : d)));

function pipelineOf(name: string, count: number, rate: number) {
  return {
    apiVersion: "evoflow/v1",
    name,
    nodes: [
      { id: "source", type: "io.generator", placement: "source", config: { rate, source: { kind: "synthetic", count, features: FEATURES, seed: 1 } } },
      { id: "stamp", type: "transform.jsonata", placement: "w1", config: { expression: "$merge([$, { 't0': $message.ts }])" } },
      { id: "tag", type: "transform.set", placement: "w2", config: { set: { tagged: true } } },
      { id: "out", type: "io.sink" },
    ],
    edges: [
      { from: "source.out", to: "stamp.in", mode: "async" },
      { from: "stamp.out", to: "tag.in", mode: "async" },
      { from: "tag.out", to: "out.in", mode: "async" },
    ],
  };
}

function syncPipelineOf(name: string, capture: "off" | "sampled" | "full") {
  return {
    apiVersion: "evoflow/v1",
    name,
    settings: { capture: { sync: capture, sampleRate: 0.01 } },
    nodes: [
      { id: "request", type: "io.http" },
      { id: "echo", type: "transform.set", placement: "w1", config: { set: { echoed: true } } },
    ],
    edges: [{ from: "request.out", to: "echo.in", mode: "sync" }],
  };
}

async function timeCalls(call: (i: number) => Promise<unknown>): Promise<{ latencyMs: ReturnType<typeof latencySummary>; callsPerSecond: number }> {
  for (let i = 0; i < 200; i++) await call(i); // warm-up
  const latencies: number[] = [];
  for (let i = 0; i < SYNC_CALLS; i++) {
    const t = performance.now();
    await call(i);
    latencies.push(performance.now() - t);
  }
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < SYNC_CONCURRENT_CALLS) await call(next++);
    }),
  );
  return { latencyMs: latencySummary(latencies), callsPerSecond: Math.round(SYNC_CONCURRENT_CALLS / ((performance.now() - started) / 1000)) };
}

async function main(): Promise<void> {
  // The machine may be shared: the load before the run is recorded beside the figures.
  const loadBefore = loadavg().map((l) => Math.round(l * 100) / 100);
  const server = await NatsServer.start();
  const dir = mkdtempSync(join(tmpdir(), "evoflow-bench-nats-"));
  const children: ChildProcess[] = [];
  try {
    process.stderr.write("(a) raw JetStream\n");
    await rawJetStream(server.url, "warmup", WARMUP, 0); // discarded, like (b)'s
    const rawPaced = await rawJetStream(server.url, "paced", PACED, PACED_RATE);

    process.stderr.write("(b) 3-hop pipeline over two workers\n");
    const coordinator = await NatsTransport.connect({ servers: server.url, role: "coordinator" });
    const runtime = new Runtime({
      transport: coordinator,
      nodeTypes: benchNodeTypes,
      dataDir: join(dir, "coordinator"),
      localNodes: (_name, def) => new Set(def.nodes.filter((n) => !n.placement).map((n) => n.id)),
    });
    const floods = Array.from({ length: ROUNDS }, (_, r) => pipelineOf(`bench_flood_${r + 1}`, FLOOD, 0));
    const paced = pipelineOf("bench_paced", PACED, PACED_RATE);
    // The workers' code is compiled on first use (tsx, then the JIT): a warm-up run is discarded.
    const warmup = pipelineOf("bench_warmup", WARMUP, 0);
    const expected = new Map([[warmup, WARMUP], [paced, PACED], ...floods.map((f) => [f, FLOOD] as const)]);
    for (const [def, count] of expected) {
      arrivals[def.name] = { latencies: [], last: 0, expected: count };
      await runtime.deploy(def);
    }
    const captureModes = ["off", "sampled", "full"] as const;
    for (const mode of captureModes) await runtime.deploy(syncPipelineOf(`bench_sync_${mode}`, mode));
    const bin = join(ROOT, "bin/evoflow.js");
    for (const group of ["w1", "w2"])
      // As the CLI runs when started as `evoflow` (its shebang sets the young generation).
      // With a worker's own V8 flags, so bin/evoflow.js starts no launcher: CPU and RSS are the worker's.
      children.push(await spawnWaiting([...(workerLaunchFlags([], process.env.NODE_OPTIONS) ?? []), bin, "worker", "--nats", server.url, "--placement", group, "--data", join(dir, group)], new RegExp(`running ${floods.at(-1)!.name}`)));
    await sleep(500); // both workers have all their pipelines deployed

    // The source runs in its own runtime, started once the workers are up, so no run measures their start.
    const sourceTransport = await NatsTransport.connect({ servers: server.url, role: "worker", placement: "source" });
    const sourceRuntime = new Runtime({ transport: sourceTransport, dataDir: join(dir, "source"), localNodes: (_n, def) => new Set(def.nodes.filter((n) => n.placement === "source").map((n) => n.id)) });
    const runPipeline = async (def: ReturnType<typeof pipelineOf>) => {
      const a = arrivals[def.name];
      const done = new Promise<void>((r) => (a.done = r));
      const started = performance.now();
      await sourceRuntime.deploy(def);
      await done;
      return { msgsPerSecond: Math.round(a.expected / ((a.last - started) / 1000)), latencyMs: latencySummary(a.latencies) };
    };
    await runPipeline(warmup);
    const pipelinePaced = await runPipeline(paced);

    // Flooded runs: (a) and (b) take turns, ROUNDS times each, so both meet the same machine;
    // each reports its median round. CPU per run: this process, worker 1, worker 2, the server.
    const per1000 = (before: number, after: number) => Math.round(((after - before) / FLOOD) * 1000 * 1000) / 1000;
    const cpuOfEach = () => [process.pid, children[0].pid!, children[1].pid!, server.pid!].map(cpuSeconds);
    const rawRounds = [];
    const pipelineRounds = [];
    for (let r = 0; r < ROUNDS; r++) {
      process.stderr.write(`flooded round ${r + 1} of ${ROUNDS}: (a), (b)\n`);
      let before = cpuOfEach();
      const raw = await rawJetStream(server.url, `flood${r + 1}`, FLOOD, 0);
      let after = cpuOfEach();
      rawRounds.push({ ...raw, cpu: { serverSecondsPer1000: per1000(before[3], after[3]), clientsSecondsPer1000: per1000(before[0], after[0]) } });
      before = cpuOfEach();
      const pipeline = await runPipeline(floods[r]);
      after = cpuOfEach();
      const [bench, worker1, worker2, natsServer] = after.map((a, i) => per1000(before[i], a));
      pipelineRounds.push({
        ...pipeline,
        cpu: {
          serverSecondsPer1000: natsServer,
          clientsSecondsPer1000: Math.round((bench + worker1 + worker2) * 1000) / 1000,
          benchProcessSecondsPer1000: bench,
          worker1SecondsPer1000: worker1,
          worker2SecondsPer1000: worker2,
        },
      });
    }
    const median = <T extends { msgsPerSecond: number }>(rounds: T[]): T => [...rounds].sort((x, y) => x.msgsPerSecond - y.msgsPerSecond)[Math.floor(rounds.length / 2)];
    const rawFlood = { ...median(rawRounds), rounds: rawRounds.map((x) => x.msgsPerSecond) };
    const pipelineFlood = { ...median(pipelineRounds), rounds: pipelineRounds.map((x) => x.msgsPerSecond) };

    process.stderr.write("(c, d) sync hop and capture\n");
    children.push(await spawnWaiting(["--import", "tsx", join(ROOT, "bench/nats-echo.ts"), server.url, "raw.echo"], /echo ready/));
    const raw = await connect({ servers: server.url });
    const body = encode({ id: "x", traceId: "t", parents: [], ts: Date.now(), source: { pipeline: "p", node: "n", port: "o" }, payload: payload(1) });
    const rawRequest = await timeCalls(() => raw.request("raw.echo", body, { timeout: 5000 }));
    await raw.close();
    const sync: Record<string, Awaited<ReturnType<typeof timeCalls>>> = {};
    for (const mode of captureModes) {
      const entry = runtime.get(`bench_sync_${mode}`)!.entrypoints.get(`bench_sync_${mode}`)!;
      sync[mode] = await timeCalls((i) => entry.invoke(payload(i)));
    }

    const workersRss = children.slice(0, 2).map((c) => peakRssMB(c.pid!));
    const natsVersion = execFileSync(process.env.NATS_SERVER ?? "nats-server", ["--version"]).toString().trim();
    await sourceRuntime.close();
    await runtime.close();

    const results = {
      date: new Date().toISOString(),
      command: "node --import tsx bench/nats.ts",
      machine: { cpu: cpus()[0]?.model, cores: cpus().length, memoryGB: Math.round(totalmem() / 2 ** 30), node: process.version, natsServer: natsVersion, storage: "file", loadAverageBefore: loadBefore },
      messages: { flood: FLOOD, floodRounds: ROUNDS, paced: PACED, pacedRate: PACED_RATE, warmup: WARMUP, payload: `{i, x: ${FEATURES} numbers}, CBOR` },
      a_rawJetStream: { flood: rawFlood, paced: rawPaced },
      b_pipeline3HopsTwoWorkers: { flood: pipelineFlood, paced: pipelinePaced },
      ratioBOverA: Math.round((pipelineFlood.msgsPerSecond / rawFlood.msgsPerSecond) * 100) / 100,
      c_syncHop: {
        rawNatsRequest: rawRequest,
        evoflowSyncEdge: sync.off,
        overheadP50Ms: Math.round((sync.off.latencyMs.p50 - rawRequest.latencyMs.p50) * 1000) / 1000,
      },
      d_syncCapture: Object.fromEntries(captureModes.map((m) => [m, sync[m]])),
      peakRssMB: { benchProcess: Math.round(process.resourceUsage().maxRSS / 1024), worker1: workersRss[0], worker2: workersRss[1] },
    };
    writeFileSync(join(ROOT, "bench/results/nats.json"), `${JSON.stringify(results, null, 2)}\n`);
    writeFileSync(join(ROOT, "bench/results/nats.md"), markdown(results));
    process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
  } finally {
    // A profiled worker writes its profile on a clean exit (SIGTERM), not when killed.
    if (PROFILE_DIR) await Promise.all(children.map((c) => new Promise((r) => (c.once("exit", r), c.kill("SIGTERM"), setTimeout(r, 10_000)))));
    for (const c of children) c.kill("SIGKILL");
    await server.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
}

function markdown(r: Record<string, any>): string {
  const a = r.a_rawJetStream;
  const b = r.b_pipeline3HopsTwoWorkers;
  const c = r.c_syncHop;
  const d = r.d_syncCapture;
  const lat = (l: { p50: number; p99: number }) => `${l.p50} / ${l.p99}`;
  const factor = (key: "serverSecondsPer1000" | "clientsSecondsPer1000") => Math.round((b.flood.cpu[key] / a.flood.cpu[key]) * 10) / 10;
  const serverFactor = factor("serverSecondsPer1000");
  const clientFactor = factor("clientsSecondsPer1000");
  const perHopB = Math.round(((b.flood.cpu.serverSecondsPer1000 + b.flood.cpu.clientsSecondsPer1000) / 3) * 1000) / 1000;
  const perHopA = Math.round((a.flood.cpu.serverSecondsPer1000 + a.flood.cpu.clientsSecondsPer1000) * 1000) / 1000;
  return `# NATS transport benchmark

Command: \`${r.command}\` — ${r.date}

Machine: ${r.machine.cpu}, ${r.machine.cores} cores, ${r.machine.memoryGB} GB, Node ${r.machine.node}, ${r.machine.natsServer}, JetStream file storage, one server on loopback.
Load average before the run (1/5/15 min): ${r.machine.loadAverageBefore.join(" / ")} — other work on the machine shows in the figures.
Messages: ${r.messages.payload}; flooded runs ${r.messages.flood} messages${
    r.messages.floodRounds ? `, ${r.messages.floodRounds} rounds of (a) then (b) taking turns, the median round of each reported` : ""
  }; paced runs ${r.messages.paced} at ${r.messages.pacedRate} msgs/s; (a) and (b) each after a discarded warm-up run of ${r.messages.warmup ?? 0} messages.

## Async: raw JetStream (a) against a 3-hop Evoflow pipeline over two worker processes (b)

| | flooded msgs/s | flooded end-to-end p50 / p99 ms | paced end-to-end p50 / p99 ms |
| --- | ---: | ---: | ---: |
| (a) raw JetStream publish + durable consumer (1 hop) | ${a.flood.msgsPerSecond} | ${lat(a.flood.latencyMs)} | ${lat(a.paced.latencyMs)} |
| (b) Evoflow, 3 JetStream hops, 2 workers | ${b.flood.msgsPerSecond} | ${lat(b.flood.latencyMs)} | ${lat(b.paced.latencyMs)} |

${a.flood.rounds ? `Flooded msgs/s of every round — (a): ${a.flood.rounds.join(", ")}; (b): ${b.flood.rounds.join(", ")}.\n\n` : ""}CPU seconds per 1,000 messages in the median flooded runs — (a): nats-server ${a.flood.cpu.serverSecondsPer1000}, clients ${a.flood.cpu.clientsSecondsPer1000}; (b): nats-server ${b.flood.cpu.serverSecondsPer1000}, clients ${b.flood.cpu.clientsSecondsPer1000}${
    b.flood.cpu.worker1SecondsPer1000 === undefined
      ? ""
      : ` (this process: source and sink ${b.flood.cpu.benchProcessSecondsPer1000}; worker 1, jsonata ${b.flood.cpu.worker1SecondsPer1000}; worker 2 ${b.flood.cpu.worker2SecondsPer1000})`
  }.

Ratio b/a (flooded msgs/s): **${r.ratioBOverA}** (target ≥ 0.5). Flooded latencies include queueing (the source outruns the consumers); paced ones do not.
Each Evoflow hop stores the message (PubAck), delivers it to a durable consumer, runs the node, waits for the PubAcks of what it emitted, then acks.
Per message, (b) costs nats-server ${serverFactor}× and the client processes ${clientFactor}× what (a) does, for three hops of store,
delivery, node and ack against one: per hop (server and clients) ${perHopB} CPU seconds per 1,000 messages against ${perHopA} for (a)'s one hop.
With that, b/a depends on how well (b)'s four busy processes share the ${r.machine.cores} cores; other work on the machine (the load average above) weighs on (b) more than on (a).
${r.ratioBOverA >= 0.5 ? "The target is met in this run." : "The target is not met in this run."}

## Sync: one request/reply hop to a worker

| | sequential p50 / p99 ms | calls/s with ${CONCURRENCY} callers |
| --- | ---: | ---: |
| raw NATS request to an echo process | ${lat(c.rawNatsRequest.latencyMs)} | ${c.rawNatsRequest.callsPerSecond} |
| Evoflow sync edge, capture off | ${lat(d.off.latencyMs)} | ${d.off.callsPerSecond} |
| Evoflow sync edge, capture sampled 1 % | ${lat(d.sampled.latencyMs)} | ${d.sampled.callsPerSecond} |
| Evoflow sync edge, capture full | ${lat(d.full.latencyMs)} | ${d.full.callsPerSecond} |

Sync hop overhead over a raw request (p50): ${c.overheadP50Ms} ms.

## Peak RSS

Bench process (coordinator + source + raw clients): ${r.peakRssMB.benchProcess} MB; worker 1: ${r.peakRssMB.worker1} MB; worker 2: ${r.peakRssMB.worker2} MB.
`;
}

// `--markdown` rewrites the .md from the recorded .json (after a wording change), without running anything.
if (process.argv.includes("--markdown")) writeFileSync(join(ROOT, "bench/results/nats.md"), markdown(JSON.parse(readFileSync(join(ROOT, "bench/results/nats.json"), "utf8"))));
else await main();
