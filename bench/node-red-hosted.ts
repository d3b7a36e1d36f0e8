/**
 * One chain of 10 Node-RED `change` nodes ("set msg.payload.kI to I") three ways, in one run:
 * in real Node-RED 4 (embedded, as bench/engine-vs-node-red.ts runs it), hosted in an Evoflow
 * pipeline (each a `node-red.change` on the embedded Node-RED runtime, nodes/node-red/), and
 * imported by `evoflow import` as native transform.set nodes. Each side in its own process, one
 * process each (the machine is shared: figures per CPU-second are the steadier ones).
 *
 *   node --import tsx bench/node-red-hosted.ts     # writes bench/results/node-red-hosted.{json,md}
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { cpus, loadavg, tmpdir } from "node:os";
import { fileURLToPath } from "node:url";

const N = 10;
const TOTAL = Number(process.env.BENCH_MESSAGES ?? 20_000);
const WARMUP = 2_000;
const CHUNK = 500;

interface SideResult {
  side: string;
  messages: number;
  msgsPerSecond: number;
  msgsPerCpuSecond: number;
  peakRssMB: number;
}

/** The flow: http in → 10 change nodes → http response (what both Evoflow sides are made from). */
function flow(): Record<string, unknown>[] {
  const changes = Array.from({ length: N }, (_, i) => ({
    id: `c${i + 1}`,
    type: "change",
    z: "tab",
    rules: [{ t: "set", p: `payload.k${i + 1}`, pt: "msg", to: String(i + 1), tot: "num" }],
    x: 200 + i * 100,
    y: 100,
    wires: [[i + 1 < N ? `c${i + 2}` : "out"]],
  }));
  return [
    { id: "tab", type: "tab", label: "chain" },
    { id: "in", type: "http in", z: "tab", url: "/chain", method: "post", x: 100, y: 100, wires: [["c1"]] },
    ...changes,
    { id: "out", type: "http response", z: "tab", x: 1300, y: 100, wires: [] },
  ];
}

async function measure(side: string, send: (count: number) => Promise<void>, check: () => void): Promise<SideResult> {
  await send(WARMUP);
  const started = performance.now();
  const cpu = process.cpuUsage();
  await send(TOTAL);
  const seconds = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  check();
  return { side, messages: TOTAL, msgsPerSecond: TOTAL / seconds, msgsPerCpuSecond: TOTAL / ((used.user + used.system) / 1e6), peakRssMB: process.resourceUsage().maxRSS / 1024 };
}

async function nodeRed(): Promise<SideResult> {
  const RED = createRequire(import.meta.url)("node-red");
  RED.init({ userDir: mkdtempSync(`${tmpdir()}/node-red-bench-`), httpAdminRoot: false, httpNodeRoot: false, credentialSecret: false, logging: { console: { level: "off" } } });
  await RED.start();
  // The change nodes alone, into a junction that counts: no HTTP on this side.
  const nodes = flow().filter((n) => n.type === "change" || n.type === "tab").map((n) => (n.id === `c${N}` ? { ...n, wires: [["sink"]] } : n));
  await RED.runtime.flows.setFlows({ flows: { flows: [...nodes, { id: "sink", type: "junction", z: "tab", x: 0, y: 0, wires: [] }] } });
  await new Promise((r) => setTimeout(r, 500));
  let received = 0;
  let last: Record<string, number> = {};
  RED.nodes.getNode("sink").on("input", (msg: { payload: Record<string, number> }, _send: unknown, done: () => void) => {
    received++;
    last = msg.payload;
    done();
  });
  const first = RED.nodes.getNode("c1");
  const send = async (count: number) => {
    for (let sent = 0; sent < count; sent += CHUNK) {
      const target = received + CHUNK;
      for (let i = 0; i < CHUNK; i++) first.receive({ payload: { i } });
      while (received < target) await new Promise((r) => setImmediate(r));
    }
  };
  return measure("node-red 4 (its own runtime)", send, () => {
    if (last[`k${N}`] !== N) throw new Error("node-red did not run the chain");
  });
}

async function evoflow(side: "hosted" | "native"): Promise<SideResult> {
  const { Runtime } = await import("../runtime/runtime");
  const { importNodeRedFlows } = await import("../runtime/node-red-import/convert");
  const { mappingContext } = await import("../runtime/node-red-import/context");
  const { nodeTypes } = await import("../runtime/node-types");
  const runtime = new Runtime({ dataDir: mkdtempSync(`${tmpdir()}/evoflow-bench-`), grants: ["exec"] });
  const imported = importNodeRedFlows(flow(), mappingContext(nodeTypes)).pipelines[0].pipeline as { name: string; nodes: { id: string; type: string }[]; edges: unknown[] };
  // Hosted: the same change nodes as node-red.change, between the same entry and answer.
  const rules = flow().filter((f) => f.type === "change").map((f) => f.rules);
  let k = 0;
  const hosted = { ...imported, nodes: imported.nodes.map((n) => (n.type === "transform.set" ? { ...n, type: "node-red.change", config: { rules: rules[k++] } } : n)) };
  const pipeline = side === "native" ? imported : hosted;
  if (pipeline.nodes.filter((n) => n.type === (side === "native" ? "transform.set" : "node-red.change")).length !== N) throw new Error(`${side}: not ${N} nodes of the kind measured`);
  const running = await runtime.deploy({ ...pipeline, settings: { maxInFlight: CHUNK } });
  const entry = running.entrypoints.get("chain")!;
  let last: Record<string, number> = {};
  const send = async (count: number) => {
    for (let sent = 0; sent < count; sent += CHUNK) {
      const replies = await Promise.all(Array.from({ length: CHUNK }, (_, i) => entry.invoke({ i })));
      last = replies[CHUNK - 1][0].payload as Record<string, number>;
    }
  };
  const result = await measure(side === "native" ? "evoflow, imported (10 × transform.set)" : "evoflow, hosted (10 × node-red.change)", send, () => {
    if (last[`k${N}`] !== N) throw new Error(`${side} did not run the chain: ${JSON.stringify(last)}`);
  });
  await runtime.close();
  return result;
}

function child(side: string): SideResult {
  const r = spawnSync(process.execPath, ["--import", "tsx", fileURLToPath(import.meta.url), side], { encoding: "utf8", maxBuffer: 1 << 24 });
  if (r.status !== 0) throw new Error(`bench child ${side} failed:\n${r.stderr}`);
  return JSON.parse(r.stdout.trim().split("\n").at(-1)!);
}

async function main(): Promise<void> {
  const side = process.argv[2];
  if (side === "node-red") return void console.log(JSON.stringify(await nodeRed()));
  if (side === "hosted" || side === "native") return void console.log(JSON.stringify(await evoflow(side)));
  const loadBefore = loadavg()[0];
  const results = ["node-red", "hosted", "native"].map((s) => (process.stderr.write(`running ${s} ...\n`), child(s)));
  const loadAfter = loadavg()[0];
  const date = new Date().toISOString();
  const nodeRedVersion = createRequire(import.meta.url)("node-red/package.json").version;
  const machine = { cpus: cpus().length, cpuModel: cpus()[0]?.model, node: process.version, nodeRed: nodeRedVersion, load: [loadBefore, loadAfter] };
  writeFileSync("bench/results/node-red-hosted.json", `${JSON.stringify({ date, machine, n: N, chunk: CHUNK, results }, null, 2)}\n`);
  const base = results[0];
  writeFileSync(
    "bench/results/node-red-hosted.md",
    [
      "# 10 Node-RED change nodes: in Node-RED, hosted in Evoflow, imported",
      "",
      `${date}, \`node --import tsx bench/node-red-hosted.ts\`, ${machine.cpus} × ${machine.cpuModel}, Node ${machine.node}, Node-RED ${nodeRedVersion}; load average ${loadBefore.toFixed(1)} before, ${loadAfter.toFixed(1)} after (a shared machine: msgs/CPU-s is the steadier figure).`,
      "",
      `${TOTAL.toLocaleString("en")} messages in chunks of ${CHUNK} after ${WARMUP.toLocaleString("en")} of warm-up, each side in its own process, one process each. Node-RED: messages handed to the first node, counted at a junction. Evoflow: requests to the io.http entry on sync edges, taps and provenance on; hosted adds a hop into Node-RED and back per node (the bridge, the catch/complete/status nodes).`,
      "",
      "| runtime | msgs/s | msgs/CPU-s | of Node-RED per CPU-s | peak RSS (MB) |",
      "| --- | ---: | ---: | ---: | ---: |",
      ...results.map((r) => `| ${r.side} | ${Math.round(r.msgsPerSecond).toLocaleString("en")} | ${Math.round(r.msgsPerCpuSecond).toLocaleString("en")} | ${(r.msgsPerCpuSecond / base.msgsPerCpuSecond).toFixed(2)}× | ${r.peakRssMB.toFixed(0)} |`),
      "",
    ].join("\n"),
  );
  for (const r of results) process.stdout.write(`${r.side}: ${Math.round(r.msgsPerSecond)} msgs/s, ${Math.round(r.msgsPerCpuSecond)} msgs/CPU-s, ${r.peakRssMB.toFixed(0)} MB\n`);
}

await main();
