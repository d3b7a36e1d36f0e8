// A worker thread holding onnxruntime sessions for the onnxruntime backend's worker pool
// (gpu-agent/onnxruntime.ts). onnxruntime-node creates and runs sessions synchronously
// on the calling thread; here that thread is not the agent's event loop, so a load does
// not stall requests to models that are already resident. Plain JavaScript so it needs
// no TypeScript loader in the worker. onnxruntime's telemetry is off here too: the
// backend (onnx/ort.ts) sets the process's environment before it starts a worker.
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { getPriority, setPriority } from "node:os";
import { parentPort } from "node:worker_threads";
import * as ort from "onnxruntime-node";

const sessions = new Map();

/**
 * Whether this thread may take its priority back after lowering it: raising a nice value
 * again needs CAP_SYS_NICE (bit 23 of the effective capabilities) on Linux. Without it a
 * load is not lowered at all, since the thread would then serve its model at the lower
 * priority for good.
 */
function mayRestorePriority() {
  try {
    const capEff = /CapEff:\s*([0-9a-f]+)/.exec(readFileSync("/proc/thread-self/status", "utf8"));
    return capEff !== null && (BigInt(`0x${capEff[1]}`) & (1n << 23n)) !== 0n;
  } catch {
    return false;
  }
}
const canLowerLoads = mayRestorePriority();

/**
 * Runs `work` (a session's creation or release) at nice `niceness` (Linux applies
 * setpriority to the calling thread), then restores this thread's priority: the requests
 * to resident models, in other threads, take the CPU from it whenever they need it.
 */
async function atNiceness(niceness, work) {
  if (niceness === undefined || !canLowerLoads) return work();
  const before = getPriority(0);
  const lowered = Math.max(before, niceness);
  // Lowered before anything else: woken at the event loop's priority, this thread would otherwise list its threads ahead of it.
  setPriority(0, lowered);
  const threadsBefore = new Set(readdirSync("/proc/self/task"));
  try {
    return await work();
  } finally {
    setPriority(0, before);
    // A thread started during the load (a session's own thread pool, with more than one intra-op thread) inherited the nice value.
    for (const tid of readdirSync("/proc/self/task")) {
      if (threadsBefore.has(tid)) continue;
      try {
        if (getPriority(Number(tid)) === lowered) setPriority(Number(tid), before);
      } catch {
        // the thread has ended
      }
    }
  }
}

function reply(id, result, transfer = []) {
  parentPort.postMessage({ id, result }, transfer);
}

parentPort.on("message", async ({ id, call: msg }) => {
  try {
    if (msg.type === "thread-id") {
      reply(id, Number(readlinkSync("/proc/thread-self").split("/").pop()));
    } else if (msg.type === "load") {
      sessions.set(msg.key, await atNiceness(msg.niceness, () => ort.InferenceSession.create(msg.path, msg.options)));
      reply(id, true);
    } else if (msg.type === "run") {
      const session = sessions.get(msg.key);
      if (!session) throw new Error(`model ${msg.key} is not loaded in this worker`);
      const feeds = {};
      for (const [name, t] of Object.entries(msg.inputs)) feeds[name] = new ort.Tensor(t.dtype, t.data, t.shape);
      const results = msg.outputs ? await session.run(feeds, msg.outputs) : await session.run(feeds);
      const out = {};
      const transfer = [];
      for (const [name, t] of Object.entries(results)) {
        out[name] = { dtype: t.type, shape: [...t.dims], data: t.data };
        if (ArrayBuffer.isView(t.data)) transfer.push(t.data.buffer);
      }
      reply(id, out, transfer);
    } else if (msg.type === "unload") {
      const session = sessions.get(msg.key);
      sessions.delete(msg.key);
      await atNiceness(msg.niceness, async () => session?.release());
      reply(id, true);
    }
  } catch (err) {
    parentPort.postMessage({ id, error: err instanceof Error ? err.message : String(err) });
  }
});
