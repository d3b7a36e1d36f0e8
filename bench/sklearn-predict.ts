/**
 * sklearn `predict` through Evoflow's OIP route against a Python loop calling `predict` on the
 * same batches (issue 20). The model (`--model logreg|forest`): a LogisticRegression (predict in
 * tens of µs: Evoflow's own cost shows) or a 100-tree RandomForestClassifier (milliseconds), trained
 * here on 2,000 Fashion-MNIST images (Debian's dataset-fashion-mnist), 784 features, 10 classes; the batches: test images,
 * `--batch` rows each (default 32). Evoflow: the agent's HTTP server (gpu-agent/server.ts) on
 * loopback with the python backend (one worker), each request a binary OIP infer asking for the
 * `label` output only (what predict gives), one request at a time from a keep-alive client in
 * this process (`--concurrency N`: N in flight over N keep-alive sockets, so the HTTP and codec
 * work in Node overlaps the worker's predict; still one Python process predicting one batch at a
 * time, as the loop). Python: one python3 process with the same joblib file calling model.predict on
 * each batch in a loop. The two take turns over several rounds; medians of the rounds.
 * Labels from both are compared. Target: Evoflow ≥ 0.8 × the loop's throughput at batch 32.
 * Writes bench/results/sklearn-predict-<model>.json and .md.
 *
 * Run: node --import tsx bench/sklearn-predict.ts [--model logreg] [--count 500] [--rounds 5] [--batch 32] [--concurrency 1]
 * (EVOFLOW_PYTHON names an interpreter with sklearn; else python3, else /usr/bin/python3)
 */
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { Agent, request } from "node:http";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { ModelHost } from "../gpu-agent/host";
import { PythonModelsBackend } from "../gpu-agent/python-models";
import { ONE_MATH_THREAD } from "../python/worker-process";
import { createAgentServer } from "../gpu-agent/server";
import { LocalModels } from "../gpu-agent/service";
import { pythonWithSklearn } from "../test/agent/python-fixtures";
import { benchDir, cpuNs, machine, mb, numberArg, round } from "./agent-bench-lib";

const count = numberArg("count", 500);
const rounds = numberArg("rounds", 5);
const batch = numberArg("batch", 32);
/** Requests the client keeps in flight (the agent's single worker still predicts one batch at a time). */
const concurrency = numberArg("concurrency", 1);
const BATCHES = 50; // distinct batches, cycled
const loadAtStart = round(loadavg()[0], 2);
const PYTHON = pythonWithSklearn();
const dir = mkdtempSync(join(tmpdir(), "evoflow-sklearn-bench-"));

const TRAIN = `
import gzip, numpy as np, joblib, sys
from sklearn.linear_model import LogisticRegression
from sklearn.ensemble import RandomForestClassifier
D = "/usr/share/datasets/fashion-mnist/"
def images(f, n):
    with gzip.open(D + f) as g:
        return np.frombuffer(g.read(16 + n * 784)[16:], np.uint8).reshape(n, 784).astype(np.float32) / 255
def labels(f, n):
    with gzip.open(D + f) as g:
        return np.frombuffer(g.read(8 + n)[8:], np.uint8).astype(np.int64)
kind = sys.argv[3]
model = (LogisticRegression(max_iter=200) if kind == "logreg" else RandomForestClassifier(n_estimators=100, random_state=0)).fit(images("train-images-idx3-ubyte.gz", 2000), labels("train-labels-idx1-ubyte.gz", 2000))
joblib.dump(model, sys.argv[1])
images("t10k-images-idx3-ubyte.gz", ${BATCHES * batch}).tofile(sys.argv[2])
`;

// Reads "N" on stdin, predicts N batches, answers the seconds taken; "labels" answers every batch's labels once.
const LOOP = `
import sys, time, json, resource, joblib, numpy as np
model = joblib.load(sys.argv[1])
x = np.fromfile(sys.argv[2], np.float32).reshape(${BATCHES}, ${batch}, 784)
for b in x: model.predict(b)  # warm-up
print("ready", flush=True)
for line in sys.stdin:
    if line.strip() == "labels":
        print(json.dumps([int(v) for b in x for v in model.predict(b)]), flush=True)
        continue
    n = int(line)
    t, c = time.perf_counter(), time.process_time()
    for i in range(n): model.predict(x[i % ${BATCHES}])
    print(json.dumps({"s": time.perf_counter() - t, "cpu": time.process_time() - c, "maxrss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}), flush=True)
`;

const MODELS = { logreg: "LogisticRegression", forest: "RandomForestClassifier (100 trees)" } as const;
const kind = (process.argv.find((a, i) => process.argv[i - 1] === "--model") ?? "logreg") as keyof typeof MODELS;
if (!(kind in MODELS)) throw new Error(`--model must be ${Object.keys(MODELS).join(" or ")}`);
const modelFile = join(dir, "model.joblib"), xFile = join(dir, "x.f32");
execFileSync(PYTHON, ["-c", TRAIN, modelFile, xFile, kind], { stdio: "inherit" });
const x = new Float32Array(readFileSync(xFile).buffer.slice(0));

// With the math-thread setting the agent's workers get (python/worker-process.ts), as is fair: one thread is faster for the loop too.
const loop = spawn(PYTHON, ["-c", LOOP, modelFile, xFile], { stdio: ["pipe", "pipe", "inherit"], env: { ...ONE_MATH_THREAD, ...process.env } });
const lines = createInterface({ input: loop.stdout! })[Symbol.asyncIterator]();
const ask = async (line: string) => (loop.stdin!.write(`${line}\n`), (await lines.next()).value as string);
await lines.next(); // ready

const host = new ModelHost({ backend: new PythonModelsBackend({ allowExec: true, interpreter: PYTHON }), memoryBytes: 2e9, cacheDir: join(dir, "cache") });
await host.assign({ name: "fmnist", version: 1, format: "sklearn", artifact: new Uint8Array(readFileSync(modelFile)) });
const app = await createAgentServer({ models: new LocalModels(host), host });
await app.listen({ port: 0, host: "127.0.0.1" });
const port = (app.server.address() as { port: number }).port;
const agent = new Agent({ keepAlive: true, maxSockets: concurrency });

/** One binary OIP infer of batch `i`; resolves to its labels. */
const bodies = Array.from({ length: BATCHES }, (_, i) => {
  const data = x.subarray(i * batch * 784, (i + 1) * batch * 784);
  const head = Buffer.from(JSON.stringify({ inputs: [{ name: "input", shape: [batch, 784], datatype: "FP32", parameters: { binary_data_size: data.byteLength } }], outputs: [{ name: "label", parameters: { binary_data: true } }] }));
  return { head: head.length, body: Buffer.concat([head, Buffer.from(data.buffer, data.byteOffset, data.byteLength)]) };
});
function infer(i: number): Promise<BigInt64Array> {
  const { head, body } = bodies[i % BATCHES];
  return new Promise((resolve, reject) => {
    const req = request({ agent, port, host: "127.0.0.1", method: "POST", path: "/v2/models/fmnist/infer", headers: { "content-type": "application/octet-stream", "inference-header-content-length": String(head), "content-length": body.length } }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const all = Buffer.concat(chunks);
        if (res.statusCode !== 200) return reject(new Error(`HTTP ${res.statusCode}: ${all}`));
        const n = Number(res.headers["inference-header-content-length"]);
        resolve(new BigInt64Array(all.buffer.slice(all.byteOffset + n, all.byteOffset + all.length)));
      });
    });
    req.on("error", reject);
    req.end(body);
  });
}

/** `n` infers, `concurrency` of them in flight at any time. */
async function inferMany(n: number): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < n) await infer(next++);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, lane));
}

// Same labels both ways, on every batch.
const expected: number[] = JSON.parse(await ask("labels"));
const got: number[] = [];
for (let i = 0; i < BATCHES; i++) got.push(...Array.from(await infer(i), Number));
const mismatches = got.filter((v, i) => v !== expected[i]).length;
await inferMany(300); // warm-up: JIT, the worker's first runs

/** The model's worker: this process's child running python/worker.py (the loop runs `-c`). */
const workerPid = readdirSync("/proc")
  .filter((d) => /^\d+$/.test(d))
  .map(Number)
  .find((pid) => {
    try {
      return readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ")[1] === String(process.pid) && readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("worker.py");
    } catch {
      return false;
    }
  })!;

const perRound: { python: number; evoflow: number; cpuUs: { python: number; node: number; worker: number } }[] = [];
let pythonMaxRss = 0;
for (let r = 0; r < rounds; r++) {
  const py = JSON.parse(await ask(String(count)));
  pythonMaxRss = Math.max(pythonMaxRss, py.maxrss);
  const t = performance.now(), node0 = process.cpuUsage(), worker0 = cpuNs(workerPid);
  await inferMany(count);
  const evoflowS = (performance.now() - t) / 1000;
  const node = process.cpuUsage(node0);
  const cpuUs = { python: (py.cpu * 1e6) / count, node: (node.user + node.system) / count, worker: (cpuNs(workerPid) - worker0) / 1000 / count };
  perRound.push({ python: count / py.s, evoflow: count / evoflowS, cpuUs });
}
const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
const pythonBps = median(perRound.map((r) => r.python)), evoflowBps = median(perRound.map((r) => r.evoflow));
const ratio = median(perRound.map((r) => r.evoflow / r.python));
const suffix = concurrency > 1 ? `-c${concurrency}` : "";
const workerRss = host.status().models[0].memoryBytes;
const result = {
  command: `node --import tsx bench/sklearn-predict.ts --model ${kind} --count ${count} --rounds ${rounds} --batch ${batch}${concurrency > 1 ? ` --concurrency ${concurrency}` : ""}`,
  at: new Date().toISOString(),
  machine: { ...machine(), loadAverage1mAtStart: loadAtStart, loadAverage1mAtEnd: round(loadavg()[0], 2) },
  model: `${MODELS[kind]} on 2,000 Fashion-MNIST images (784 features, 10 classes)`,
  batch, count, rounds, concurrency, labelMismatches: mismatches,
  batchesPerSecond: { python: round(pythonBps, 1), evoflow: round(evoflowBps, 1) },
  rowsPerSecond: { python: Math.round(pythonBps * batch), evoflow: Math.round(evoflowBps * batch) },
  ratioEvoflowToPython: round(ratio, 3),
  target: "evoflow ≥ 0.8 × python at batch 32",
  met: ratio >= 0.8,
  cpuMicrosecondsPerBatch: Object.fromEntries((["python", "node", "worker"] as const).map((k) => [k, round(median(perRound.map((r) => r.cpuUs[k])), 1)])) as Record<"python" | "node" | "worker", number>,
  microsecondsPerBatch: { python: round(1e6 / pythonBps, 1), evoflow: round(1e6 / evoflowBps, 1), overhead: round(1e6 / evoflowBps - 1e6 / pythonBps, 1) },
  perRound: perRound.map((r) => ({ python: round(r.python, 1), evoflow: round(r.evoflow, 1) })),
  rssMB: { evoflowWorker: mb(workerRss), pythonLoopPeak: mb(pythonMaxRss), nodeProcessPeak: mb(process.resourceUsage().maxRSS * 1024) },
};
loop.stdin!.end();
await app.close();
await host.close();
writeFileSync(join(benchDir, `results/sklearn-predict-${kind}${suffix}.json`), `${JSON.stringify(result, null, 2)}\n`);
const m = result.machine as Record<string, unknown>;
writeFileSync(
  join(benchDir, `results/sklearn-predict-${kind}${suffix}.md`),
  `# sklearn predict: Evoflow's OIP route against a Python loop

Command: \`${result.command}\` — ${result.at}

Machine: ${JSON.stringify(m)} (the machine is shared with other jobs: a short run, figures to read as such).

Model: ${result.model}. Batches of ${batch} test images, ${count} per round, ${rounds} rounds taking turns, median round.
**python**: one python3 process calling \`model.predict\` on each batch in a loop, with one BLAS thread as the agent's workers have. **evoflow**: the agent's HTTP server on
loopback, python backend (one worker), a binary OIP infer per batch asking for \`label\` only, ${concurrency === 1 ? "one request at a time" : `${concurrency} requests in flight (the one worker still predicts one batch at a time: Node's HTTP and codec work overlaps its predict)`}
from a keep-alive client in the same Node process. Labels differing between the two: ${mismatches} of ${expected.length}.

| | batches/s | rows/s | µs a batch |
| --- | ---: | ---: | ---: |
| python loop | ${result.batchesPerSecond.python} | ${result.rowsPerSecond.python} | ${result.microsecondsPerBatch.python} |
| evoflow OIP | ${result.batchesPerSecond.evoflow} | ${result.rowsPerSecond.evoflow} | ${result.microsecondsPerBatch.evoflow} |

Evoflow / python: **${result.ratioEvoflowToPython}** (target ≥ 0.8 at batch 32: ${result.met ? "met" : "missed"}); Evoflow's cost a batch beyond predict: ${result.microsecondsPerBatch.overhead} µs
(HTTP request and response, OIP binary parsing, the signature check, the frame to the worker and back, numpy arrays made from the buffers).

CPU a batch (median round): the Python loop ${result.cpuMicrosecondsPerBatch.python} µs; Evoflow's Node process (client, HTTP server, host, pool) ${result.cpuMicrosecondsPerBatch.node} µs and the model's worker ${result.cpuMicrosecondsPerBatch.worker} µs.

RSS: the model's worker ${result.rssMB.evoflowWorker} MB (what the agent accounts for it); the Python loop's process at its peak ${result.rssMB.pythonLoopPeak} MB; this Node process (agent server, host, client) at its peak ${result.rssMB.nodeProcessPeak} MB.

Per round (batches/s): ${result.perRound.map((r) => `${r.python} / ${r.evoflow}`).join("; ")}.
`,
);
console.log(JSON.stringify(result, null, 2));
