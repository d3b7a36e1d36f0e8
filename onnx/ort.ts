/**
 * onnxruntime-node as all of Evoflow imports it: loaded at first use, with onnxruntime's
 * telemetry off.
 *
 * Loaded at first use because every runtime process holds the in-process agent and the
 * CL nodes, and most never run a model: a worker of transforms would map onnxruntime's
 * native library (~15 MB of RSS) for nothing. `ort` is a stand-in whose first property
 * read loads the package (sdk/lazy-require.ts); types come from `Ort`.
 *
 * Since 1.29 onnxruntime on Linux starts a telemetry thread at a process's first session
 * and logs every session's creation into an SQLite store under ~/.cache/Microsoft (~50
 * writes a session and an fsync every ~16, in strace), to upload it to Microsoft where it
 * can. A serving agent that swaps models creates hundreds of sessions a second: with the
 * telemetry on, a swap took 15–20% more CPU and the thread ran beside the requests at
 * their priority. Nor should a self-hosted server report its use. A value the user sets
 * is kept. onnxruntime reads the variable at the first session (test/onnx/telemetry.test.ts).
 */
import { createRequire } from "node:module";
import type * as Ort from "onnxruntime-node";
import { lazyObject } from "../sdk/lazy-require";

export type { Ort };

export const ort = lazyObject(() => {
  process.env.ORT_DISABLE_TELEMETRY ??= "1";
  return createRequire(import.meta.url)("onnxruntime-node") as typeof Ort;
});
