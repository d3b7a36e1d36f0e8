/**
 * RSS of `evoflow worker` processes by the kind of nodes they host (issue 24, lean workers),
 * on a real nats-server: a coordinator (`evoflow run --nats`) and one worker per kind, each
 * started as `evoflow worker` is (with bin/evoflow.js's --max-semi-space-size=32):
 *   transforms  10 × transform.set on a sync path
 *   jsonata     1 × transform.jsonata (its sandboxed worker thread included)
 *   model       1 × model.onnx (the in-process agent: onnxruntime and one session)
 * Each worker's RSS once its pipeline is deployed (idle), and its peak (VmHWM) after
 * `--requests` requests from 16 clients through the coordinator's sync entry points.
 * Target: a worker of transforms ≤ 120 MB. Writes bench/results/worker-rss.{json,md}.
 *
 * Run: node --import tsx bench/worker-rss.ts [--requests 5000]
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { FsModelRegistry } from "../runtime/registry/fs";
import { makeMlp, randomFloats } from "../test/fixtures/mlp";
import { freePort, NatsServer } from "../test/nats/server";
import { benchDir, machine, numberArg, procRss, round } from "./agent-bench-lib";

const requests = numberArg("requests", 5000);
const ROOT = resolve(benchDir, "..");
const BIN = join(ROOT, "bin/evoflow.js");
const KINDS = ["transforms", "jsonata", "model"] as const;
type Kind = (typeof KINDS)[number];

const status = (pid: number, field: "VmRSS" | "VmHWM") => round(procRss(pid, field) / 2 ** 20, 1);

function start(args: string[], ready: RegExp, env: Record<string, string>): Promise<ChildProcess> {
  const child = spawn(process.execPath, ["--max-semi-space-size=32", BIN, ...args], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...env } });
  let out = "";
  return new Promise((ok, fail) => {
    const seen = (c: Buffer) => {
      out += c.toString();
      if (ready.test(out)) ok(child);
    };
    child.stdout!.on("data", seen);
    child.stderr!.on("data", seen);
    child.once("exit", (code) => fail(new Error(`${args.join(" ")} exited ${code}:\n${out}`)));
  });
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

const server = await NatsServer.start();
const port = await freePort();
const api = `http://127.0.0.1:${port}`;
const children: ChildProcess[] = [];
const results = {} as Record<Kind, { idleMb: number; peakMb: number; requests: number; errors: number; seconds: number }>;
try {
  children.push(await start(["run", ...KINDS.map((k) => join(dir, `${k}.json`)), "--nats", server.url, "--port", String(port), "--data", join(dir, "coordinator"), "--no-auth"], /listening on/, env));
  const workers = {} as Record<Kind, ChildProcess>;
  for (const kind of KINDS) {
    workers[kind] = await start(["worker", "--nats", server.url, "--placement", kind, "--pipeline", kind, "--data", join(dir, kind)], new RegExp(`running ${kind}`), env);
    children.push(workers[kind]);
  }
  const post = (kind: Kind) => fetch(`${api}/pipelines/${kind}`, { method: "POST", headers: { "content-type": "application/json" }, body: bodies[kind] });
  for (const kind of KINDS) {
    // The first answer shows the worker serves; RSS after it is the idle figure (code compiled, nothing queued).
    for (let tries = 0; (await post(kind)).status !== 200; tries++) {
      if (tries > 100) throw new Error(`${kind}: no answer from its worker`);
      await new Promise((r) => setTimeout(r, 100));
    }
    await new Promise((r) => setTimeout(r, 500));
    const idleMb = status(workers[kind].pid!, "VmRSS");
    let sent = 0;
    let errors = 0;
    const started = performance.now();
    await Promise.all(Array.from({ length: 16 }, async () => {
      while (sent < requests) {
        sent++;
        const res = await post(kind);
        if (res.status !== 200) {
          if (errors++ === 0) process.stderr.write(`${kind}: first error ${res.status} ${await res.text()}\n`);
        } else await res.arrayBuffer();
      }
    }));
    results[kind] = { idleMb, peakMb: status(workers[kind].pid!, "VmHWM"), requests: sent, errors, seconds: round((performance.now() - started) / 1000, 1) };
    process.stderr.write(`${kind}: idle ${idleMb} MB, peak ${results[kind].peakMb} MB, ${sent} requests in ${results[kind].seconds} s, ${errors} errors\n`);
  }
} finally {
  for (const c of children) c.kill("SIGKILL");
  await server.dispose();
}

const command = `node --import tsx bench/worker-rss.ts --requests ${requests}`;
const report = { benchmark: "worker-rss", date: new Date().toISOString(), command, machine: machine(), requestsPerKind: requests, clients: 16, workers: results };
writeFileSync(join(benchDir, "results/worker-rss.json"), `${JSON.stringify(report, null, 2)}\n`);
const m = report.machine;
const what: Record<Kind, string> = { transforms: "10 × transform.set", jsonata: "transform.jsonata", model: "model.onnx (MLP 784-128-10)" };
const md = `# RSS of evoflow worker by kind

Command: \`${command}\` — ${report.date}

Machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGB} GB, Node ${m.node}; 1-minute load average at the end ${m.loadAverage1m} (the machine is shared with other jobs).

One nats-server, a coordinator (\`evoflow run --nats\`, the sync entry points) and one \`evoflow worker\` per kind (\`--placement <kind>\`, started with bin/evoflow.js's \`--max-semi-space-size=32\`). Idle: RSS once the worker has answered its first request. Peak: VmHWM after ${requests.toLocaleString("en")} requests from 16 clients.

| worker hosts | idle RSS (MB) | peak RSS (MB) | requests | errors | seconds |
| --- | ---: | ---: | ---: | ---: | ---: |
${KINDS.map((k) => `| ${what[k]} | ${results[k].idleMb} | ${results[k].peakMb} | ${results[k].requests} | ${results[k].errors} | ${results[k].seconds} |`).join("\n")}

Target: a worker of transforms ≤ 120 MB — ${results.transforms.peakMb <= 120 ? "met" : "NOT met"} (peak ${results.transforms.peakMb} MB).
`;
writeFileSync(join(benchDir, "results/worker-rss.md"), md);
process.stdout.write(md);
