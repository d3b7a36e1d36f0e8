// A worker thread holding onnxruntime sessions for the onnxruntime backend's worker pool
// (gpu-agent/onnxruntime.ts). onnxruntime-node creates and runs sessions synchronously
// on the calling thread; here that thread is not the agent's event loop, so a load does
// not stall requests to models that are already resident. Plain JavaScript so it needs
// no TypeScript loader in the worker.
import { parentPort } from "node:worker_threads";
import * as ort from "onnxruntime-node";

const sessions = new Map();

function reply(id, result, transfer = []) {
  parentPort.postMessage({ id, result }, transfer);
}

parentPort.on("message", async (msg) => {
  try {
    if (msg.type === "load") {
      sessions.set(msg.key, await ort.InferenceSession.create(msg.path, msg.options));
      reply(msg.id, true);
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
      reply(msg.id, out, transfer);
    } else if (msg.type === "unload") {
      const session = sessions.get(msg.key);
      sessions.delete(msg.key);
      await session?.release();
      reply(msg.id, true);
    }
  } catch (err) {
    parentPort.postMessage({ id: msg.id, error: err instanceof Error ? err.message : String(err) });
  }
});
