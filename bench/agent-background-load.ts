/**
 * An overcommitted agent (30 models, room for 10, the overcommit bench's models and Zipf
 * traffic) on a machine that other processes keep busy: `--hogs` busy-looping processes at
 * nice `--hog-nice`, one run of `--seconds` per load priority (nice, idle, normal). Shows
 * what each priority costs the cold path when the agent does not have the machine to
 * itself (bench/results/agent-overcommit.md cites it). Prints a table; writes no file.
 *
 * Run: node --import tsx bench/agent-background-load.ts [--hogs 2] [--hog-nice 10] [--seconds 10]
 */
import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ModelHost } from "../gpu-agent/host";
import { OnnxRuntimeBackend } from "../gpu-agent/onnxruntime";
import { createAgentServer } from "../gpu-agent/server";
import { LocalModels } from "../gpu-agent/service";
import { makeMlp, randomFloats } from "../test/fixtures/mlp";
import { latencySummary, machine, runLoad, numberArg } from "./agent-bench-lib";

const hogs = numberArg("hogs", 2);
const hogNice = numberArg("hog-nice", 10);
const seconds = numberArg("seconds", 10);

const modelDir = mkdtempSync(join(tmpdir(), "evoflow-background-models-"));
for (let i = 0; i < 30; i++) writeFileSync(join(modelDir, `m${i}.onnx`), makeMlp({ sizes: [512, 1024, 1024, 10], seed: 1000 + i }).bytes);
const body = JSON.stringify({ inputs: [{ name: "input", shape: [1, 512], datatype: "FP32", data: Array.from(randomFloats(512, 9)) }] });
const targets = Array.from({ length: 30 }, (_, i) => ({ path: `/v2/models/m${i}/infer`, body }));

async function measure(loadPriority: "nice" | "idle" | "normal") {
  const backend = new OnnxRuntimeBackend({ executionProvider: "cpu", workers: 11, loadPriority });
  const cacheDir = mkdtempSync(join(tmpdir(), "evoflow-background-"));
  const probe = new ModelHost({ backend, memoryBytes: 1e9, cacheDir });
  const perModel = (await probe.assign({ name: "m0", version: 1, artifact: join(modelDir, "m0.onnx") })).memoryBytes;
  const host = new ModelHost({ backend, memoryBytes: perModel * 10.5, cacheDir: mkdtempSync(join(tmpdir(), "evoflow-background-")) });
  for (let i = 0; i < 30; i++) await host.assign({ name: `m${i}`, version: 1, artifact: join(modelDir, `m${i}.onnx`) });
  const loads: { key: string; swapInMs: number; at: number }[] = [];
  host.on("load", (e) => loads.push(e));
  const app = await createAgentServer({ models: new LocalModels(host), host });
  const port = Number(new URL(await app.listen({ port: 0, host: "127.0.0.1" })).port);
  // Each busy process stops by itself after the run, whatever happens here.
  const busy = Array.from({ length: hogs }, () =>
    spawn("nice", ["-n", String(hogNice), process.execPath, "-e", `const end = Date.now() + ${(seconds + 5) * 1000}; while (Date.now() < end);`], { stdio: "ignore" }),
  );
  try {
    const r = await runLoad({ url: `http://127.0.0.1:${port}`, targets, pick: "zipf", zipfS: 1, seed: 42, concurrency: 4, warmupMs: 1000, durationMs: seconds * 1000, maxRequests: 1e6 });
    // Requests to models that were resident when asked: no load of that model overlapped them.
    const resident = r.start.flatMap((s, k) => (loads.some((l) => l.key === `m${r.target[k]}@1` && l.at - l.swapInMs < r.end[k] && l.at > s) ? [] : [r.end[k] - s]));
    const all = r.start.map((s, k) => r.end[k] - s);
    return { loadPriority, loads: host.status().loads, requests: latencySummary(all), resident: latencySummary(resident), failed: r.status.filter((s) => s !== 200).length };
  } finally {
    for (const p of busy) p.kill();
    await app.close();
    await host.close();
  }
}

const rows = [];
for (const priority of ["nice", "idle", "normal"] as const) rows.push(await measure(priority));
const m = machine();
process.stdout.write(
  `Agent under background load: ${hogs} busy processes at nice ${hogNice}, ${seconds} s per load priority; ${m.cores} cores, load average ${m.loadAverage1m}\n\n` +
    `| load priority | loads | requests | p50 ms | p99 ms | resident requests | resident p99 ms | failed |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n` +
    rows.map((r) => `| ${r.loadPriority} | ${r.loads} | ${r.requests.count} | ${r.requests.p50} | ${r.requests.p99} | ${r.resident.count} | ${r.resident.p99} | ${r.failed} |`).join("\n") +
    "\n",
);
