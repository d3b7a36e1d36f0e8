/**
 * onnxruntime-node as all of Evoflow imports it: with onnxruntime's telemetry off.
 *
 * Since 1.29 onnxruntime on Linux starts a telemetry thread at a process's first session
 * and logs every session's creation into an SQLite store under ~/.cache/Microsoft (~50
 * writes a session and an fsync every ~16, in strace), to upload it to Microsoft where it
 * can. A serving agent that swaps models creates hundreds of sessions a second: with the
 * telemetry on, a swap took 15–20% more CPU and the thread ran beside the requests at
 * their priority. Nor should a self-hosted server report its use. A value the user sets
 * is kept.
 *
 * onnxruntime reads the variable when it starts its environment, at the first session,
 * not at import (test/onnx/telemetry.test.ts checks this), so it may be set here, after
 * the import that a bundler hoists anyway. Session workers share the process environment.
 */
import * as ort from "onnxruntime-node";

process.env.ORT_DISABLE_TELEMETRY ??= "1";

export { ort };
