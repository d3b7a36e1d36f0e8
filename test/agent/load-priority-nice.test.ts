/**
 * `loadPriority: "nice"`: a load in a session worker runs at nice 19, and the loading
 * thread, and any thread started meanwhile, get their nice value back. In a process of its
 * own, so the watched load is its first onnxruntime session (onnxruntime starts a thread then).
 */
import { afterEach, describe, expect, it } from "vitest";
import { ModelHost } from "../../gpu-agent/host";
import { OnnxRuntimeBackend } from "../../gpu-agent/onnxruntime";
import { makeMlp, randomFloats } from "../fixtures/mlp";
import { expectClose, tempDir, threads, watchWhile } from "./helpers";

let host: ModelHost | undefined;
afterEach(async () => {
  await host?.close();
});

describe.runIf(process.platform === "linux" && process.getuid?.() === 0)("session workers load at nice 19", () => {
  it("a load runs at nice 19, every thread is back at its nice value afterwards, and answers are right", async () => {
    const big = makeMlp({ sizes: [1024, 2048, 2048, 2048, 10], seed: 5 });
    host = new ModelHost({ backend: new OnnxRuntimeBackend({ executionProvider: "cpu", workers: 2, loadPriority: "nice" }), memoryBytes: 1e9, cacheDir: tempDir("nice") });
    await host.assign({ name: "big", version: 1, artifact: big.bytes });
    const before = threads();
    const seen = await watchWhile(host.warm("big", 1), () => threads().filter((t) => t.nice === 19));
    expect(seen.length).toBeGreaterThan(0);
    const lowest = Math.max(...before.map((t) => t.nice));
    expect(threads().filter((t) => t.nice !== lowest)).toEqual([]);
    const x = randomFloats(1024, 3);
    const out = await host.infer("big", 1, { input: { dtype: "float32", shape: [1, 1024], data: x } });
    expectClose(out.output.data as Float32Array, big.forward(x, 1), 1e-3);
  }, 60_000);
});
