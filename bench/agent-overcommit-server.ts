/**
 * The agent under test for bench/agent-overcommit.ts, in its own process: a ModelHost
 * on onnxruntime (CPU) with 30 models assigned and room for `budgetModels` of them,
 * behind the agent's v2 server. Records every load (with its swap-in time) and, when
 * asked, times a bare `InferenceSession.create` of each model file in this process.
 */
import { readdirSync } from "node:fs";
import { mkdtempSync } from "node:fs";
import { peakRss } from "./agent-bench-lib";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import { ort, type Ort } from "../onnx/ort";
import { ModelHost } from "../gpu-agent/host";
import { OnnxRuntimeBackend } from "../gpu-agent/onnxruntime";
import { createAgentServer } from "../gpu-agent/server";
import { LocalModels } from "../gpu-agent/service";
import { PROJECT_ROOT } from "../runtime/paths";


const [modelDir, budgetArg, warmArg, workersArg, prepackArg, loadPriorityArg, arenaArg] = process.argv.slice(2);
const files = readdirSync(modelDir).filter((f) => f.endsWith(".onnx")).sort((a, b) => Number(a.slice(1, -5)) - Number(b.slice(1, -5)));
const backend = new OnnxRuntimeBackend({ executionProvider: "cpu", workers: Number(workersArg ?? 0), prepackWeights: prepackArg === "auto" ? "auto" : prepackArg !== "no-prepack", loadPriority: (loadPriorityArg ?? "idle") as "idle" | "nice" | "normal", ...(arenaArg === "always" ? { memoryArena: true } : {}) });
const host = new ModelHost({ backend, memoryBytes: 1, cacheDir: mkdtempSync(join(tmpdir(), "evoflow-overcommit-")) });
// The budget is set from the first model's estimate once assigned (all models are the same size).
const infos = [];
for (const f of files) infos.push(await host.assign({ name: f.slice(0, -5), version: 1, artifact: join(modelDir, f) }));
const perModel = infos[0].memoryBytes;
const budgeted = new ModelHost({ backend, memoryBytes: perModel * Number(budgetArg) + perModel / 2, cacheDir: mkdtempSync(join(tmpdir(), "evoflow-overcommit-")) });
for (const f of files) await budgeted.assign({ name: f.slice(0, -5), version: 1, artifact: join(modelDir, f) });
const loads: { key: string; ms: number; swapInMs: number; at: number }[] = [];
budgeted.on("load", (e) => loads.push(e));
if (warmArg === "warm") for (const f of files) await budgeted.warm(f.slice(0, -5), 1);
const app = await createAgentServer({ models: new LocalModels(budgeted), host: budgeted });
const address = await app.listen({ port: 0, host: "127.0.0.1" });

process.on("message", async (cmd: string) => {
  if (cmd === "stats") {
    const s = budgeted.status();
    process.send!({ loads, evictions: s.evictions, memoryBytes: s.memoryBytes, perModelBytes: perModel, peakRssBytes: peakRss(), workers: backend.workerSessions().length });
  } else if (cmd === "worker-memory") {
    // What a session worker costs with no session: a few more threads like the backend's (onnxruntime's module loaded), RSS before and after.
    const count = 4;
    const before = process.memoryUsage.rss();
    const started = Array.from({ length: count }, () => new Worker(join(PROJECT_ROOT, "gpu-agent", "ort-worker.mjs")));
    await Promise.all(started.map((w) => new Promise((resolve) => { w.once("message", resolve); w.postMessage({ id: 0, call: { type: "thread-id" } }); })));
    const perWorkerBytes = (process.memoryUsage.rss() - before) / count;
    await Promise.all(started.map((w) => w.terminate()));
    process.send!({ perWorkerBytes });
  } else if (cmd === "swap-in") {
    // One cold model at a time, nothing else running: each evicts the least recently used one.
    const times: number[] = [];
    for (const f of [...files].reverse()) {
      const name = f.slice(0, -5);
      if (budgeted.get(name, 1)!.state === "resident") continue;
      const before = loads.length;
      await budgeted.warm(name, 1);
      times.push(loads[before].swapInMs);
    }
    process.send!({ times });
  } else if (cmd === "bare-create") {
    // The same files straight into onnxruntime, one after the other: with the agent's session options, and with onnxruntime's defaults.
    const time = async (options: Ort.InferenceSession.SessionOptions) => {
      const times: number[] = [];
      for (const f of files) {
        const t0 = performance.now();
        const session = await ort.InferenceSession.create(join(modelDir, f), options);
        times.push(performance.now() - t0);
        await session.release();
      }
      return times;
    };
    process.send!({ times: await time(backend.sessionOptions("cpu", budgeted.overcommitted())), defaultOptionTimes: await time({ executionProviders: ["cpu"] }) });
  }
});
process.on("disconnect", () => process.exit(0));
process.send!({ port: Number(new URL(address).port), models: files.length, perModelBytes: perModel, rssBytes: process.memoryUsage.rss() });
