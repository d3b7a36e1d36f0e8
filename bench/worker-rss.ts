/**
 * RSS of `evoflow worker` processes by the kind of nodes they host (issue 24, lean workers),
 * on a real nats-server: a coordinator (`evoflow run --nats`) and one worker per kind, each
 * started as `evoflow worker` is (bin/evoflow.js: a launcher and the worker with its V8 flags):
 *   transforms  10 × transform.set on a sync path
 *   jsonata     1 × transform.jsonata (its sandboxed worker thread included)
 *   model       1 × model.onnx (the in-process agent: onnxruntime and one session)
 * Each worker's RSS once its pipeline is deployed (idle), its peak (VmHWM) after `--requests`
 * requests from 16 clients through the coordinator's sync entry points, and its CPU seconds
 * over them (/proc/<pid>/stat); the launcher's RSS and PSS beside. Then the transforms worker
 * again under other V8 flags (given in NODE_OPTIONS, which the worker keeps): peak RSS against
 * messages per CPU-second, the table worker-launch.mjs and heap.ts chose their flags from.
 * Target: a worker of transforms ≤ 120 MB. Writes bench/results/worker-rss.{json,md}.
 *
 * Run: node --import tsx bench/worker-rss.ts [--requests 3000]
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { FsModelRegistry } from "../runtime/registry/fs";
import { makeMlp, randomFloats } from "../test/fixtures/mlp";
import { freePort, NatsServer } from "../test/nats/server";
import { benchDir, machine, numberArg, procRss, RUNTIME_NODE_FLAGS, round } from "./agent-bench-lib";
import { WORKER_SEMI_SPACE_MB } from "../runtime/cli/worker-launch.mjs";
import { WORKER_V8_FLAGS } from "../runtime/cli/heap";

const requests = numberArg("requests", 3000);
const ROOT = resolve(benchDir, "..");
const BIN = join(ROOT, "bin/evoflow.js");
const KINDS = ["transforms", "jsonata", "model"] as const;
type Kind = (typeof KINDS)[number];

const status = (pid: number, field: "VmRSS" | "VmHWM") => round(procRss(pid, field) / 2 ** 20, 1);
const pssMb = (pid: number) => round(Number(/^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, "utf8"))?.[1]) / 1024, 1);
// utime + stime of every thread, after the name (field 2, which may hold spaces).
const cpuSeconds = (pid: number) => readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ").slice(11, 13).reduce((a, b) => a + Number(b), 0) / 100;
const loadAverage = () => readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" / ");

interface Started {
  child: ChildProcess;
  /** The worker proper: the launcher's child, or the process itself when it needed none. */
  pid: number;
}

function start(nodeFlags: string[], args: string[], ready: RegExp, env: Record<string, string>): Promise<Started> {
  const child = spawn(process.execPath, [...nodeFlags, BIN, ...args], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...env } });
  let out = "";
  return new Promise((ok, fail) => {
    const seen = (c: Buffer) => {
      out += c.toString();
      if (ready.test(out)) ok({ child, pid: Number(/^worker \S+-(\d+)-[0-9a-f]{6} /m.exec(out)?.[1] ?? child.pid) });
    };
    child.stdout!.on("data", seen);
    child.stderr!.on("data", seen);
    child.once("exit", (code) => fail(new Error(`${args.join(" ")} exited ${code}:\n${out}`)));
  });
}

function stop(c: ChildProcess): Promise<void> {
  return new Promise((r) => (c.exitCode !== null || c.signalCode !== null ? r() : (c.once("exit", () => r()), c.kill("SIGTERM"))));
}

const dir = mkdtempSync(join(tmpdir(), "evoflow-worker-rss-"));
const mlp = makeMlp({ sizes: [784, 128, 10], seed: 7, softmax: true });
const registry = new FsModelRegistry(join(dir, "registry"));
await registry.register({ name: "mnist", artifact: mlp.bytes });
await registry.promote("mnist", 1);
await registry.close();
// Every process reads the one registry folder.
const env = { EVOFLOW_REGISTRY: join(dir, "registry") };

const sets = Array.from({ length: 10 }, (_, i) => ({ id: `t${i}`, type: "transform.set", placement: "transforms", config: { set: { [`k${i}`]: i } } }));
const pipelines = {
  transforms: { apiVersion: "evoflow/v1", name: "transforms", nodes: [{ id: "request", type: "io.http" }, ...sets], edges: sets.map((s, i) => ({ from: i === 0 ? "request.out" : `t${i - 1}.out`, to: `${s.id}.in`, mode: "sync" })) },
  jsonata: { apiVersion: "evoflow/v1", name: "jsonata", nodes: [{ id: "request", type: "io.http" }, { id: "sum", type: "transform.jsonata", placement: "jsonata", config: { expression: "{ 'sum': $sum(x), 'n': $count(x) }" } }], edges: [{ from: "request.out", to: "sum.in", mode: "sync" }] },
  model: { apiVersion: "evoflow/v1", name: "model", nodes: [{ id: "request", type: "io.http" }, { id: "classify", type: "model.onnx", placement: "model", config: { model: "mnist@champion" } }], edges: [{ from: "request.out", to: "classify.in", mode: "sync" }] },
};
const bodies: Record<Kind, string> = {
  transforms: JSON.stringify({ x: [1, 2, 3] }),
  jsonata: JSON.stringify({ x: [1, 2, 3, 4] }),
  model: JSON.stringify({ dtype: "float32", shape: [1, 784], data: Array.from(randomFloats(784, 3)) }),
};
for (const kind of KINDS) writeFileSync(join(dir, `${kind}.json`), JSON.stringify(pipelines[kind]));

// The transforms worker under other V8 flags: the young generation's in NODE_OPTIONS (the worker keeps it, no launcher), the growing percent on node's command line.
const FLAG_SETS = [
  { semiMb: 32, growPercent: 100, note: "before: as the npm bin's shebang started a worker" },
  { semiMb: 16, growPercent: 100, note: "before: V8's default, as `node bin/evoflow.js worker` started one" },
  { semiMb: 8, growPercent: 50, note: "" },
  { semiMb: 4, growPercent: 50, note: "" },
  { semiMb: 2, growPercent: 100, note: "" },
  { semiMb: 2, growPercent: 50, note: "" },
  { semiMb: 1, growPercent: 50, note: "" },
];
const chosenGrow = Number(WORKER_V8_FLAGS.find((f) => f.startsWith("--heap-growing-percent="))!.split("=")[1]);
const chosen = (f: (typeof FLAG_SETS)[number]) => f.semiMb === WORKER_SEMI_SPACE_MB && f.growPercent === chosenGrow;

interface Served { idleMb: number; peakMb: number; requests: number; errors: number; seconds: number; cpuSeconds: number; msgsPerCpuSecond: number; load: string }

const server = await NatsServer.start();
const port = await freePort();
const api = `http://127.0.0.1:${port}`;
const children: ChildProcess[] = [];
const post = (kind: Kind) => fetch(`${api}/pipelines/${kind}`, { method: "POST", headers: { "content-type": "application/json" }, body: bodies[kind] });

async function serve(kind: Kind, worker: Started, warmUp = 0): Promise<Served> {
  // The first answer shows the worker serves; RSS after it is the idle figure (code compiled, nothing queued).
  for (let tries = 0; (await post(kind)).status !== 200; tries++) {
    if (tries > 100) throw new Error(`${kind}: no answer from its worker`);
    await new Promise((r) => setTimeout(r, 100));
  }
  await new Promise((r) => setTimeout(r, 500));
  const idleMb = status(worker.pid, "VmRSS");
  const load = async (count: number) => {
    let sent = 0;
    let errors = 0;
    await Promise.all(Array.from({ length: 16 }, async () => {
      while (sent < count) {
        sent++;
        const res = await post(kind);
        if (res.status !== 200) {
          if (errors++ === 0) process.stderr.write(`${kind}: first error ${res.status} ${await res.text()}\n`);
        } else await res.arrayBuffer();
      }
    }));
    return { sent, errors };
  };
  await load(warmUp);
  const cpu0 = cpuSeconds(worker.pid);
  const started = performance.now();
  const { sent, errors } = await load(requests);
  const cpu = round(cpuSeconds(worker.pid) - cpu0, 2);
  const served = { idleMb, peakMb: status(worker.pid, "VmHWM"), requests: sent, errors, seconds: round((performance.now() - started) / 1000, 1), cpuSeconds: cpu, msgsPerCpuSecond: Math.round(sent / cpu), load: loadAverage() };
  process.stderr.write(`${kind}: idle ${idleMb} MB, peak ${served.peakMb} MB, ${sent} requests in ${served.seconds} s, ${cpu} CPU s, ${errors} errors (load ${served.load})\n`);
  return served;
}

const workerArgs = (kind: Kind, data: string) => ["worker", "--nats", server.url, "--placement", kind, "--pipeline", kind, "--data", join(dir, data)];
const loadBefore = loadAverage();
const kinds = {} as Record<Kind, Served>;
const flagRuns: (Served & (typeof FLAG_SETS)[number])[] = [];
let launcher = { rssMb: 0, pssMb: 0 };
try {
  // The coordinator as the npm bin's shebang starts it.
  children.push((await start(["--max-semi-space-size=32"], ["run", ...KINDS.map((k) => join(dir, `${k}.json`)), "--nats", server.url, "--port", String(port), "--data", join(dir, "coordinator"), "--no-auth"], /listening on/, env)).child);
  const workers = {} as Record<Kind, Started>;
  for (const kind of KINDS) {
    workers[kind] = await start([], workerArgs(kind, kind), new RegExp(`running ${kind}`), env);
    children.push(workers[kind].child);
  }
  for (const kind of KINDS) kinds[kind] = await serve(kind, workers[kind]);
  launcher = { rssMb: status(workers.transforms.child.pid!, "VmRSS"), pssMb: pssMb(workers.transforms.child.pid!) };
  await stop(workers.transforms.child);
  for (const flags of FLAG_SETS) {
    const worker = await start([`--heap-growing-percent=${flags.growPercent}`], workerArgs("transforms", `transforms-${flags.semiMb}-${flags.growPercent}`), /running transforms/, { ...env, NODE_OPTIONS: `--max-semi-space-size=${flags.semiMb}` });
    children.push(worker.child);
    flagRuns.push({ ...flags, ...(await serve("transforms", worker, 300)) });
    await stop(worker.child);
  }
} finally {
  for (const c of children) c.kill("SIGKILL");
  await server.dispose();
}

const command = `node --import tsx bench/worker-rss.ts --requests ${requests}`;
const report = { benchmark: "worker-rss", date: new Date().toISOString(), command, machine: machine(), loadAverageBefore: loadBefore, requestsPerRun: requests, clients: 16, workers: kinds, launcher, flags: flagRuns };
writeFileSync(join(benchDir, "results/worker-rss.json"), `${JSON.stringify(report, null, 2)}\n`);
const m = report.machine;
const what: Record<Kind, string> = { transforms: "10 × transform.set", jsonata: "transform.jsonata", model: "model.onnx (MLP 784-128-10)" };
const before = flagRuns[0];
const mine = flagRuns.find(chosen)!;
const md = `# RSS of evoflow worker by kind

Command: \`${command}\` — ${report.date}

Machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGB} GB, Node ${m.node}; load average (1/5/15 min) ${loadBefore} before the run, and after each row below (the machine is shared with other jobs, which weighs on CPU seconds and wall time).

One nats-server, a coordinator (\`evoflow run --nats\`, the sync entry points) and one \`evoflow worker\` per kind (\`--placement <kind>\`), started as \`evoflow worker\` starts: ${WORKER_SEMI_SPACE_MB} MB semi-spaces (runtime/cli/worker-launch.mjs), \`${WORKER_V8_FLAGS.join(" ")}\` (runtime/cli/heap.ts). Idle: RSS once the worker has answered its first request. Peak: the worker's VmHWM after ${requests.toLocaleString("en")} requests from 16 clients. CPU: the worker's utime + stime over those requests.

| worker hosts | idle RSS (MB) | peak RSS (MB) | requests | errors | seconds | worker CPU s | msgs / CPU s | load after |
| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |
${KINDS.map((k) => `| ${what[k]} | ${kinds[k].idleMb} | ${kinds[k].peakMb} | ${kinds[k].requests} | ${kinds[k].errors} | ${kinds[k].seconds} | ${kinds[k].cpuSeconds} | ${kinds[k].msgsPerCpuSecond} | ${kinds[k].load} |`).join("\n")}

Target: a worker of transforms ≤ 120 MB — ${kinds.transforms.peakMb <= 120 ? "met" : "NOT met"} (peak ${kinds.transforms.peakMb} MB).
No trainer kind: training runs in a process of its own (the CL trainer), not in an \`evoflow worker\`.

The launcher (bin/evoflow.js, which the young generation needs: V8 sizes it only at start and Node 20 cannot exec itself) held ${launcher.rssMb} MB RSS, of which ${launcher.pssMb} MB PSS: most of its pages are node's own binary, shared with the worker.

## The transforms worker under other V8 flags

Each row a fresh worker, ${requests.toLocaleString("en")} requests after 300 of warm-up, one run each (not repeated: compare within this table, under its load).

| semi-space MB | old generation grows to | peak RSS (MB) | msgs / CPU s | msgs/s | load after | |
| ---: | ---: | ---: | ---: | ---: | --- | --- |
${flagRuns.map((f) => `| ${f.semiMb} | ${1 + f.growPercent / 100}× live | ${f.peakMb} | ${f.msgsPerCpuSecond} | ${Math.round(f.requests / f.seconds)} | ${f.load} | ${chosen(f) ? "**chosen**" : f.note} |`).join("\n")}

Chosen against the first row: peak ${mine.peakMb} MB against ${before.peakMb} (${round(mine.peakMb / before.peakMb, 2)}×), ${round(before.msgsPerCpuSecond / mine.msgsPerCpuSecond, 2)}× the worker's CPU per message.
`;
writeFileSync(join(benchDir, "results/worker-rss.md"), md);
process.stdout.write(md);
