/**
 * What a python.function costs per message (issue 20): the round trip of an identity
 * `def process(p, ctx): return p` through the engine (a sync request path `io.http →
 * python.function`, called at its entry point as the HTTP route does) and through its worker
 * pool alone, against a raw echo:
 * the same bytes (the message as python/frames.ts encodes it) written length-prefixed to a
 * python3 process that reads them and writes them back, with no decoding on either side.
 * One message at a time (latency, not throughput), two payloads: a small record, and a record
 * holding a float32 [1, 784] tensor (a Fashion-MNIST image). The ways take turns over several
 * rounds in one run, so the shared machine's load falls on each alike; medians of the rounds.
 * For scale, the engine's own share: the same path through a JavaScript node (JSONata `$`).
 * Also the RSS of an idle worker (numpy imported), the workers' peak and this process's peak.
 * Target: python.function ≤ 1.5 × raw echo.
 * Writes bench/results/python-function.json and .md.
 *
 * Run: node --import tsx bench/python-function.ts [--count 2000] [--rounds 5]
 * (the runtime's data folder is a temporary one: provenance and taps as a runtime keeps them by default)
 */
import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import type { Readable, Writable } from "node:stream";
import { python } from "../nodes/services";
import { encodeMessage } from "../python/frames";
import { createPythonWorkers } from "../python/pool";
import { Runtime } from "../runtime/runtime";
import type { PythonPool, PythonWorkers } from "../sdk";
import { benchDir, cpuNs, machine, mb, numberArg, procRss, round } from "./agent-bench-lib";

const count = numberArg("count", 2000);
const rounds = numberArg("rounds", 5);
const loadAtStart = round(loadavg()[0], 2);
/** Round trips each way makes before the measured rounds: the first thousands run slower (JIT on both sides). */
const WARM_UP = 3000;

const payloads = {
  record: { id: "r-1", label: 3, values: [0.5, 1.5, -2, 3.25, 4, 5, 6, 7, 8, 9] },
  tensor: { id: "t-1", x: { dtype: "float32" as const, shape: [1, 784], data: Float32Array.from({ length: 784 }, (_, i) => Math.sin(i)) } },
};
type Payload = keyof typeof payloads;

const IDENTITY = "def process(p, ctx):\n    return p\n";
const ECHO = `
import sys, struct
i, o = sys.stdin.buffer, sys.stdout.buffer
while True:
    h = i.read(4)
    if len(h) < 4:
        break
    o.write(h + i.read(struct.unpack("<I", h)[0]))
    o.flush()
`;

/** The raw echo: one length-prefixed frame out, the same frame back. */
function rawEcho() {
  const child = spawn("python3", ["-c", ECHO], { stdio: ["pipe", "pipe", "inherit"] });
  const input = child.stdin as Writable, output = child.stdout as Readable;
  let waiting: { need: number; got: number; done: () => void } | undefined;
  output.on("data", (chunk: Buffer) => {
    if (!waiting) return;
    waiting.got += chunk.byteLength;
    if (waiting.got >= waiting.need) {
      const { done } = waiting;
      waiting = undefined;
      done();
    }
  });
  return {
    pid: child.pid!,
    roundTrip: (frame: Buffer) =>
      new Promise<void>((resolve) => {
        waiting = { need: frame.byteLength, got: 0, done: resolve };
        input.write(frame);
      }),
    close: () => new Promise<void>((resolve) => (child.once("close", () => resolve()), input.end())),
  };
}


const workers = createPythonWorkers();
const pool = workers.pool({ source: { code: IDENTITY, filename: "<bench>" }, function: "process", workers: 1, timeoutMs: 10_000, pipeline: "bench", node: "pool" });
await pool.start();
const idleWorkerRss = pool.rssBytes()[0];
// The node's pool, kept to read its worker's CPU time.
let nodePool: PythonPool | undefined;
const service: PythonWorkers = { interpreter: workers.interpreter, pool: (o) => (nodePool = workers.pool(o)) };
// Two sync request paths, called at io.http's entry point as its route does (no socket): one
// through the identity python.function, one through a JavaScript node passing the payload on
// (JSONata `$`) for the engine's own share. Nothing keeps what they answer.
const runtime = new Runtime({ dataDir: mkdtempSync(join(tmpdir(), "evoflow-bench-python-")), services: { [python.name]: service }, grants: ["exec"] });
const requestPath = (name: string, node: Record<string, unknown>) => ({
  apiVersion: "evoflow/v1",
  name,
  nodes: [{ id: "request", type: "io.http", config: { name } }, { id: "f", ...node }],
  edges: [{ from: "request.out", to: "f.in", mode: "sync" }],
});
await runtime.deploy(requestPath("bench-python", { type: "python.function", config: { code: IDENTITY, timeoutMs: 10_000 } }));
await runtime.deploy(requestPath("bench-js", { type: "transform.jsonata", config: { expression: "$" } }));
const entry = (name: string) => runtime.entrypoint(name)!;
let answered = 0;
const invoke = async (name: string, payload: unknown) => {
  const [reply] = await entry(name).invoke(payload);
  if (reply) answered++;
};
const echo = rawEcho();

/** µs a message, wall clock and CPU (this process plus the Python process `pythonPid`, if any). */
async function timed(n: number, one: () => Promise<unknown>, pythonPid?: number): Promise<{ wall: number; cpu: number }> {
  const cpu0 = process.cpuUsage(), py0 = pythonPid ? cpuNs(pythonPid) : 0;
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) await one();
  const wall = Number(process.hrtime.bigint() - start) / 1000 / n;
  const own = process.cpuUsage(cpu0);
  const py = pythonPid ? (cpuNs(pythonPid) - py0) / 1000 : 0;
  return { wall, cpu: (own.user + own.system + py) / n };
}

type Way = "raw" | "pool" | "node" | "js";
const order: Way[] = ["raw", "pool", "node", "js"];
const pythonPid: Record<Way, () => number | undefined> = { raw: () => echo.pid, pool: () => pool.pids()[0], node: () => nodePool!.pids()[0], js: () => undefined };
const ways: Record<Way, (p: Payload) => () => Promise<unknown>> = {
  raw: (p) => {
    const message = Buffer.concat(encodeMessage({ op: "call" }, payloads[p]));
    const length = Buffer.alloc(4);
    length.writeUInt32LE(message.byteLength);
    // One write a round trip, as the pool makes.
    const frame = Buffer.concat([length, message]);
    return () => echo.roundTrip(frame);
  },
  pool: (p) => () => pool.call(payloads[p]),
  node: (p) => () => invoke("bench-python", payloads[p]),
  js: (p) => () => invoke("bench-js", payloads[p]),
};

// Warm-up: JIT on both sides, then the measured rounds, each way in turn (reversed every other round).
for (const p of Object.keys(payloads) as Payload[]) for (const w of order) await timed(WARM_UP, ways[w](p));
const runs = {} as Record<Payload, Record<Way, number[]>>;
const cpuRuns = {} as Record<Payload, Record<Way, number[]>>;
for (const p of Object.keys(payloads) as Payload[]) {
  runs[p] = { raw: [], pool: [], node: [], js: [] };
  cpuRuns[p] = { raw: [], pool: [], node: [], js: [] };
  for (let r = 0; r < rounds; r++)
    for (const w of r % 2 === 0 ? order : [...order].reverse()) {
      const { wall, cpu } = await timed(count, ways[w](p), pythonPid[w]());
      runs[p][w].push(round(wall, 1));
      cpuRuns[p][w].push(round(cpu, 1));
    }
}
// What the node emitted came back whole: the bench measured round trips, not dropped messages.
const letters = runtime.get("bench-python")!.deadLetters.toArray();
if (letters.length > 0) throw new Error(`python.function dead-lettered: ${letters[0].reason}`);
const workerPeak = procRss(pool.pids()[0], "VmHWM");
await runtime.close();
await pool.close();
await echo.close();

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const summary = Object.fromEntries(
  (Object.keys(payloads) as Payload[]).map((p) => {
    const m = Object.fromEntries(order.map((w) => [w, median(runs[p][w])])) as Record<Way, number>;
    const c = Object.fromEntries(order.map((w) => [w, median(cpuRuns[p][w])])) as Record<Way, number>;
    return [p, { wall: { ...m, poolOverRaw: round(m.pool / m.raw, 2), nodeOverRaw: round(m.node / m.raw, 2) }, cpu: { ...c, poolOverRaw: round(c.pool / c.raw, 2), nodeOverRaw: round(c.node / c.raw, 2) } }];
  }),
) as Record<Payload, Record<"wall" | "cpu", Record<Way, number> & { poolOverRaw: number; nodeOverRaw: number }>>;
const command = `node --import tsx bench/python-function.ts --count ${count} --rounds ${rounds}`;
const result = {
  command,
  date: new Date().toISOString(),
  machine: { ...machine(), loadAverage1mAtStart: loadAtStart },
  python: workers.interpreter,
  count,
  rounds,
  requestsAnswered: answered,
  wallUsPerMessage: runs,
  cpuUsPerMessage: cpuRuns,
  median: summary,
  target: "python.function (node) ≤ 1.5 × raw echo",
  rss: { idleWorkerMb: mb(idleWorkerRss), workerPeakMb: mb(workerPeak), benchProcessPeakMb: mb(process.resourceUsage().maxRSS * 1024) },
};
writeFileSync(join(benchDir, "results/python-function.json"), `${JSON.stringify(result, null, 2)}\n`);

const row = (p: Payload, what: string, kind: "wall" | "cpu") => {
  const s = summary[p][kind];
  return `| ${what} | ${s.raw} | ${s.pool} | ${s.node} | ${s.js} | ${s.poolOverRaw} | ${s.nodeOverRaw} | ${s.nodeOverRaw <= 1.5 ? "met" : "missed"} |`;
};
const md = `# python.function against a raw pipe echo

Command: \`${command}\` — ${result.date}

Machine: ${result.machine.cpu}, ${result.machine.cores} cores, ${result.machine.memoryGB} GB, Node ${result.machine.node} (${result.machine.platform}), ${result.python}; 1-minute load average ${loadAtStart} at the start, ${result.machine.loadAverage1m} at the end (the machine is shared with other jobs: short runs, figures to read as such).

One message at a time, ${count} per round, ${rounds} rounds with the four taking turns, median round, µs a message:
**raw** the message's bytes (as python/frames.ts encodes them) length-prefixed to a python3 process that writes them back undecoded;
**pool** python/pool.ts calling an identity \`process(p, ctx)\` in its worker (encode, decode into numpy, call, encode, decode);
**node** the same through the engine: a sync request path \`io.http → python.function\` called at its entry point as the HTTP route does (no socket);
**js** the engine's own share for comparison: \`io.http → transform.jsonata "$"\` the same way (no Python).

Round trip, wall clock (what the target is set on):

| payload | raw | pool | node | js | pool/raw | node/raw | target node ≤ 1.5 × raw |
| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |
${row("record", "record (10 numbers)", "wall")}
${row("tensor", "float32 [1, 784] tensor", "wall")}

CPU a message, Node's process and the Python process together (the scheduler's counts, /proc/<pid>/task/*/schedstat); between runs on this machine both tables moved by up to ±30%:

| payload | raw | pool | node | js | pool/raw | node/raw | node ≤ 1.5 × raw |
| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |
${row("record", "record (10 numbers)", "cpu")}
${row("tensor", "float32 [1, 784] tensor", "cpu")}

Where the CPU goes (medians above): pool − raw is the codec on both sides (JSON with tensors as raw buffers, numpy arrays made and turned back into bytes) and the call in Python: ${round(summary.record.cpu.pool - summary.record.cpu.raw, 1)} µs for the record, ${round(summary.tensor.cpu.pool - summary.tensor.cpu.raw, 1)} µs for the tensor; node − pool is the engine's handling of a payload the node made anew (envelope, the payload check, provenance copying a new tensor's bytes): ${round(summary.record.cpu.node - summary.record.cpu.pool, 1)} µs and ${round(summary.tensor.cpu.node - summary.tensor.cpu.pool, 1)} µs; the js column passes its input object on, so provenance shares the bytes it already holds.

RSS: an idle worker (numpy imported, identity loaded) ${result.rss.idleWorkerMb} MB; the pool's worker at its peak ${result.rss.workerPeakMb} MB; this process (Node, engine, both pools) at its peak ${result.rss.benchProcessPeakMb} MB.
`;
writeFileSync(join(benchDir, "results/python-function.md"), md);
process.stdout.write(md);
