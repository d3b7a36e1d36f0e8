/**
 * Messages per second through a chain of N trivial transforms, Evoflow's
 * in-process engine (taps and provenance on) against Node-RED 4 embedded, in the
 * same run. Each side runs in its own child process so its peak RSS is its own.
 *
 *   npm run bench:engine            # writes bench/results/engine-vs-node-red.{json,md}
 *   BENCH_MESSAGES=50000 npm run bench:engine   # a shorter run (said so in the results)
 *
 * The flow on both sides: inject → N × "set payload.kI = I" → counting sink,
 * 200,000 messages in chunks of 10,000 (REFERENCE.md's measurement of Node-RED).
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { cpus, tmpdir, totalmem } from "node:os";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { transformChain } from "./transform-chain";
import { summariseProfile } from "./cpu-profile-summary";

const TOTAL = Number(process.env.BENCH_MESSAGES ?? 200_000);
const CHUNK = 10_000;
const WARMUP = 20_000;
const ROUNDS = 3;

interface SideResult {
  side: string;
  transforms: number;
  edges?: string;
  messages: number;
  seconds: number;
  msgsPerSecond: number;
  /** Rate per CPU-second of this process: steadier than wall time when the machine is shared. */
  msgsPerCpuSecond: number;
  peakRssMB: number;
  youngGenerationMB?: number | "default";
  roundsMsgsPerSecond?: number[];
}

function cpuSecondsSince(start: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1e6;
}

async function runEvoflow(n: number, mode: "sync" | "async"): Promise<SideResult> {
  const { Runtime } = await import("../runtime/runtime");
  const runtime = new Runtime({ dataDir: mkdtempSync(`${tmpdir()}/evoflow-bench-`) });
  const running = await runtime.deploy(transformChain("bench", n, mode, CHUNK));
  const entry = running.entrypoints.get("bench")!;
  const send = async (count: number) => {
    for (let done = 0; done < count; done += CHUNK) {
      const batch: Promise<unknown>[] = [];
      for (let i = 0; i < CHUNK; i++) batch.push(entry.invoke({ i }));
      await Promise.all(batch);
      await running.idle();
    }
  };
  await send(WARMUP);
  const sinkBefore = running.status().nodes.sink.in as number;
  const started = performance.now();
  const cpu = process.cpuUsage();
  await send(TOTAL);
  const seconds = (performance.now() - started) / 1000;
  const cpuSeconds = cpuSecondsSince(cpu);
  const received = (running.status().nodes.sink.in as number) - sinkBefore;
  if (received !== TOTAL) throw new Error(`evoflow sink got ${received} of ${TOTAL}`);
  if (running.taps.read(`t${n}_out-sink_in`, 0).total < TOTAL) throw new Error("taps were not on");
  await runtime.close();
  return { side: "evoflow", transforms: n, edges: mode, messages: TOTAL, seconds, msgsPerSecond: TOTAL / seconds, msgsPerCpuSecond: TOTAL / cpuSeconds, peakRssMB: process.resourceUsage().maxRSS / 1024 };
}

/**
 * The limit: a plain loop handing each payload through the same N transform.set instances
 * (the node's own onMessage, its emit a function that keeps the payload), no envelope, no engine.
 */
async function runPlain(n: number): Promise<SideResult> {
  const { default: set } = await import("../nodes/transform/set");
  let payload: unknown;
  const emit = (_port: string, p: unknown) => ((payload = p), Promise.resolve([]));
  const transforms = await Promise.all(Array.from({ length: n }, (_, i) => set.create({} as never, set.config.parse({ set: { [`k${i + 1}`]: i + 1 } }))));
  const send = (count: number) => {
    for (let i = 0; i < count; i++) {
      payload = { i };
      for (const t of transforms) t.onMessage!("in", { payload } as never, emit as never);
    }
  };
  send(WARMUP);
  const started = performance.now();
  const cpu = process.cpuUsage();
  send(TOTAL);
  const seconds = (performance.now() - started) / 1000;
  const cpuSeconds = cpuSecondsSince(cpu);
  if ((payload as Record<string, number>)[`k${n}`] !== n) throw new Error("the plain loop did not run the transforms");
  return { side: "plain loop", transforms: n, messages: TOTAL, seconds, msgsPerSecond: TOTAL / seconds, msgsPerCpuSecond: TOTAL / cpuSeconds, peakRssMB: process.resourceUsage().maxRSS / 1024 };
}

async function runNodeRed(n: number): Promise<SideResult> {
  const require = createRequire(import.meta.url);
  const RED = require("node-red");
  const http = require("node:http");
  RED.init(http.createServer(), {
    userDir: mkdtempSync(`${tmpdir()}/node-red-bench-`),
    httpAdminRoot: false,
    httpNodeRoot: false,
    credentialSecret: false,
    logging: { console: { level: "off" } },
  });
  await RED.start();
  const flow: Record<string, unknown>[] = [{ id: "tab", type: "tab", label: "bench" }];
  for (let i = 1; i <= n; i++)
    flow.push({
      id: `t${i}`, type: "change", z: "tab", name: "",
      rules: [{ t: "set", p: `payload.k${i}`, pt: "msg", to: String(i), tot: "num" }],
      wires: [[i < n ? `t${i + 1}` : "sink"]],
    });
  flow.push({ id: "sink", type: "junction", z: "tab", wires: [] });
  await RED.runtime.flows.setFlows({ flows: { flows: flow } });
  await new Promise((r) => setTimeout(r, 500));
  let received = 0;
  RED.nodes.getNode("sink").on("input", (_msg: unknown, _send: unknown, done: () => void) => {
    received++;
    done();
  });
  const first = RED.nodes.getNode("t1");
  const send = async (count: number) => {
    for (let sent = 0; sent < count; sent += CHUNK) {
      const target = received + CHUNK;
      for (let i = 0; i < CHUNK; i++) first.receive({ payload: { i } });
      while (received < target) await new Promise((r) => setImmediate(r));
    }
  };
  await send(WARMUP);
  const before = received;
  const started = performance.now();
  const cpu = process.cpuUsage();
  await send(TOTAL);
  const seconds = (performance.now() - started) / 1000;
  const cpuSeconds = cpuSecondsSince(cpu);
  if (received - before !== TOTAL) throw new Error(`node-red sink got ${received - before} of ${TOTAL}`);
  await RED.stop();
  return { side: "node-red", transforms: n, messages: TOTAL, seconds, msgsPerSecond: TOTAL / seconds, msgsPerCpuSecond: TOTAL / cpuSeconds, peakRssMB: process.resourceUsage().maxRSS / 1024 };
}

/** Runs one side in its own process, with Node's defaults or with the young generation bin/evoflow.js sets. */
function child(args: string[], youngGenerationMB?: number, extraFlags: string[] = []): SideResult {
  const self = fileURLToPath(import.meta.url);
  const flags = [...(youngGenerationMB ? [`--max-semi-space-size=${youngGenerationMB}`] : []), ...extraFlags];
  const r = spawnSync(process.execPath, [...flags, "--import", "tsx", self, ...args], { encoding: "utf8", maxBuffer: 1 << 24 });
  if (r.status !== 0) throw new Error(`bench child ${args.join(" ")} failed:\n${r.stderr}`);
  return { ...JSON.parse(r.stdout.trim().split("\n").at(-1)!), youngGenerationMB: youngGenerationMB ?? "default" };
}

async function main(): Promise<void> {
  const [side, n, mode] = process.argv.slice(2);
  if (side === "evoflow") return void console.log(JSON.stringify(await runEvoflow(Number(n), mode as "sync" | "async")));
  if (side === "node-red") return void console.log(JSON.stringify(await runNodeRed(Number(n))));
  if (side === "plain") return void console.log(JSON.stringify(await runPlain(Number(n))));

  const nodeRedVersion = createRequire(import.meta.url)("node-red/package.json").version;
  const results: SideResult[] = [];
  const runs: [string[], number | undefined][] = [];
  for (const n of ["1", "10"])
    runs.push([["node-red", n], undefined], [["node-red", n], 32], [["evoflow", n, "async"], undefined], [["evoflow", n, "async"], 32], [["evoflow", n, "sync"], 32]);
  runs.push([["plain", "10"], 32]);
  // Runs vary by ±30% from one process to the next (GC timing): each figure is the median of ROUNDS processes.
  for (const [args, young] of runs) {
    process.stderr.write(`running ${args.join(" ")} (young generation ${young ?? "default"}) ${ROUNDS} times ...\n`);
    const rounds = Array.from({ length: ROUNDS }, () => child(args, young)).sort((a, b) => a.msgsPerSecond - b.msgsPerSecond);
    const r = { ...rounds[Math.floor(ROUNDS / 2)], roundsMsgsPerSecond: rounds.map((x) => Math.round(x.msgsPerSecond)) };
    process.stderr.write(`  median ${Math.round(r.msgsPerSecond).toLocaleString("en")} msgs/s (${r.roundsMsgsPerSecond.join(", ")}), peak RSS ${r.peakRssMB.toFixed(0)} MB\n`);
    results.push(r);
  }
  const pick = (side: string, edges: string | undefined, young: number | "default") =>
    results.find((r) => r.side === side && r.transforms === 10 && r.edges === edges && r.youngGenerationMB === young)!;
  // Each as shipped: Node-RED with Node's defaults, Evoflow as bin/evoflow.js runs it.
  const nodeRed = pick("node-red", undefined, "default");
  const ratio10Async = pick("evoflow", "async", 32).msgsPerSecond / nodeRed.msgsPerSecond;
  const ratio10Sync = pick("evoflow", "sync", 32).msgsPerSecond / nodeRed.msgsPerSecond;
  const ratio10AsyncCpu = pick("evoflow", "async", 32).msgsPerCpuSecond / nodeRed.msgsPerCpuSecond;
  const ratio10SameFlags = pick("evoflow", "async", 32).msgsPerSecond / pick("node-red", undefined, 32).msgsPerSecond;
  const plain = pick("plain loop", undefined, 32);
  const ofPlainAsync = pick("evoflow", "async", 32).msgsPerCpuSecond / plain.msgsPerCpuSecond;
  const ofPlainSync = pick("evoflow", "sync", 32).msgsPerCpuSecond / plain.msgsPerCpuSecond;
  // Where the time goes: one more Evoflow process (N=10, async) under the CPU profiler.
  const profileDir = mkdtempSync(`${tmpdir()}/evoflow-bench-profile-`);
  child(["evoflow", "10", "async"], 32, ["--cpu-prof", `--cpu-prof-dir=${profileDir}`]);
  const profile = summariseProfile(`${profileDir}/${readdirSync(profileDir).filter((f) => f.endsWith(".cpuprofile")).sort()[0]}`);
  const machine = { cpus: cpus().length, cpuModel: cpus()[0]?.model, memoryGB: Math.round(totalmem() / 2 ** 30), node: process.version, nodeRed: nodeRedVersion };
  const command = "npm run bench:engine";
  const date = new Date().toISOString();
  writeFileSync(
    "bench/results/engine-vs-node-red.json",
    `${JSON.stringify({ date, command, machine, results, ratio10Async, ratio10Sync, ratio10AsyncCpu, ratio10SameFlags, ofPlainAsync, ofPlainSync, profile, target: 10 }, null, 2)}\n`,
  );
  const rows = results.map(
    (r) =>
      `| ${r.side} | ${r.transforms} | ${r.edges ?? "async (setImmediate per hop)"} | ${r.youngGenerationMB} | ${Math.round(r.msgsPerSecond).toLocaleString("en")} | ${Math.round(r.msgsPerCpuSecond).toLocaleString("en")} | ${r.peakRssMB.toFixed(0)} |`,
  );
  writeFileSync(
    "bench/results/engine-vs-node-red.md",
    [
      "# Engine throughput against Node-RED",
      "",
      `${date}, \`${command}\`, ${machine.cpus} × ${machine.cpuModel}, ${machine.memoryGB} GiB, Node ${machine.node}, Node-RED ${nodeRedVersion}.`,
      "",
      `inject → N × set-a-field transform → counting sink; ${TOTAL.toLocaleString("en")} messages in chunks of ${CHUNK.toLocaleString("en")} after ${WARMUP.toLocaleString("en")} of warm-up. Evoflow with taps (ring of 256 per edge) and provenance capture on. Each side in its own process; each figure is the median of ${ROUNDS} processes (all ${ROUNDS} in the JSON).`,
      "",
      "| runtime | transforms | edges | young generation (MB) | msgs/s | msgs/CPU-s | peak RSS (MB) |",
      "| --- | --- | --- | --- | --- | --- | --- |",
      ...rows,
      "",
      `At N=10, each as shipped (Node-RED on Node's defaults, Evoflow as \`bin/evoflow.js\` runs it, with a 32 MB young generation): async edges ${ratio10Async.toFixed(1)}×, sync edges ${ratio10Sync.toFixed(1)}× Node-RED's msgs/s (target ≥ 10×); per CPU-second, async ${ratio10AsyncCpu.toFixed(1)}×. Both on the same 32 MB young generation: async ${ratio10SameFlags.toFixed(1)}×.`,
      "",
      `Against the limit, a plain loop calling the same 10 transform.set instances (${Math.round(plain.msgsPerCpuSecond).toLocaleString("en")} msgs/CPU-s): Evoflow does ${(100 * ofPlainAsync).toFixed(0)}% of its rate per CPU-second on async edges, ${(100 * ofPlainSync).toFixed(0)}% on sync edges.`,
      "",
      "Where an Evoflow process's CPU time goes (N=10, async edges; self time by area, from `node --cpu-prof`, start-up included):",
      "",
      "| area | share of CPU time |",
      "| --- | ---: |",
      ...profile.map((p) => `| ${p.area} | ${p.percent.toFixed(1)}% |`),
      "",
      "msgs/CPU-s divides by the CPU time of the measuring process, which stays meaningful when other jobs share the machine; msgs/s is wall time.",
      "",
    ].join("\n"),
  );
  process.stdout.write(`ratio at N=10: async ${ratio10Async.toFixed(2)}x, sync ${ratio10Sync.toFixed(2)}x\n`);
}

await main();

