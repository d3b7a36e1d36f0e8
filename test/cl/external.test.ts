/** The external trainer contract, run with a real script in a child process, and the node in a pipeline. */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runExternalTrainer } from "../../nodes/continual-learning/external";
import { HistoryStore, historyRoot } from "../../nodes/continual-learning/history";
import { loadFashionMnist, subset } from "../../nodes/continual-learning/fashion-mnist";
import { writeSnapshot } from "../../nodes/continual-learning/snapshot";
import { readSignature } from "../../onnx/signature";
import { FsModelRegistry } from "../../runtime/registry/fs";
import { Runtime } from "../../runtime/runtime";
import { tensor } from "../../sdk/ports";
import { makeMlp } from "../fixtures/mlp";

const SCRIPT = path.resolve("test/cl/fixtures/external-trainer.ts");
// The command runs in its own work folder, so the TypeScript loader is named by absolute URL.
const TSX = pathToFileURL(path.resolve("node_modules/tsx/dist/loader.mjs")).href;
const command = [process.execPath, "--import", TSX, SCRIPT, "{snapshot}", "{base}", "{output}"];
let dir: string;
const data = subset(loadFashionMnist("test"), Array.from({ length: 600 }, (_, i) => i));
const champion = makeMlp({ sizes: [784, 16, 10], softmax: true, inputName: "image", outputName: "scores" });

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), "evoflow-ext-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("external trainer contract", () => {
  it("hands over snapshot and champion, reads JSON progress lines and the ONNX it wrote", async () => {
    const { dir: snapshotDir } = await writeSnapshot(path.join(dir, "snaps"), data);
    const progress: Record<string, number>[] = [];
    const logs: string[] = [];
    const result = await runExternalTrainer({ command, snapshotDir, base: champion.bytes, workDir: path.join(dir, "run1"), config: { epochs: 2 }, timeoutMs: 60_000, onProgress: (p) => progress.push(p), onLog: (l) => logs.push(l) });
    expect(progress.map((p) => p.progress)).toEqual([0.5, 1]);
    expect(result.samplesSeen).toBe(1200);
    expect(logs).toContain("loaded 600 examples");
    expect(readSignature(result.onnx).inputs).toEqual(readSignature(champion.bytes).inputs);
  }, 60_000);

  it("a failing command fails with its stderr; a candidate with another signature is refused", async () => {
    const { dir: snapshotDir } = await writeSnapshot(path.join(dir, "snaps"), data);
    await expect(runExternalTrainer({ command, snapshotDir, base: champion.bytes, workDir: path.join(dir, "run2"), config: { fail: true }, timeoutMs: 60_000 })).rejects.toThrow(/exited with 1: CUDA out of memory/);
    await expect(runExternalTrainer({ command, snapshotDir, base: champion.bytes, workDir: path.join(dir, "run3"), config: { wrongSignature: true }, timeoutMs: 60_000 })).rejects.toThrow(/signature .* differs from the champion's/);
    await expect(runExternalTrainer({ command: ["/nonexistent/trainer"], snapshotDir, workDir: path.join(dir, "run4"), config: {}, timeoutMs: 60_000 })).rejects.toThrow(/cannot start/);
  }, 60_000);

  it("trainer.external in a pipeline registers the candidate with lineage and announces it", async () => {
    const registry = new FsModelRegistry(path.join(dir, "registry"));
    const v1 = await registry.register({ name: "ext", artifact: champion.bytes, labels: { classes: "0,1,2,3,4,5,6,7,8,9" } });
    await registry.promote("ext", v1.version);
    // trainer.external runs a command: the runtime must grant "exec" (test/security/capabilities.test.ts covers the refusal).
    const runtime = new Runtime({ dataDir: path.join(dir, "data"), services: { registry }, grants: ["exec", "fs-write"] });
    const pipeline = {
      apiVersion: "evoflow/v1",
      name: "ext-cl",
      nodes: [
        { id: "labels", type: "io.http", config: { name: "labels" } },
        { id: "trigger", type: "io.http", config: { name: "trigger" } },
        { id: "trainer", type: "trainer.external", config: { model: "ext", command, options: { epochs: 1 }, minSamples: 100, holdoutShare: 0 } },
        { id: "out", type: "io.sink", config: { kind: "discard" } },
      ],
      edges: [
        { from: "labels.out", to: "trainer.data", mode: "async" },
        { from: "trigger.out", to: "trainer.trigger", mode: "async" },
        { from: "trainer.candidate", to: "out.in", mode: "async" },
      ],
    };
    const running = await runtime.deploy(pipeline);
    for (let i = 0; i < 300; i++) await running.entrypoints.get("labels")!.invoke({ x: tensor("float32", [784], data.x.slice(i * 784, (i + 1) * 784)), y: data.y[i] });
    await running.idle();
    await running.entrypoints.get("trigger")!.invoke({ kind: "trigger", policy: "volume", reason: "300 new samples" });
    let v2;
    while (!(v2 = await registry.get("ext", 2))) await new Promise((r) => setTimeout(r, 100));
    expect(v2.lineage).toMatchObject({ baseVersion: 1, data: { snapshot: expect.stringMatching(/^snap-/) }, trainer: { type: "trainer.external" } });
    expect(v2.labels).toMatchObject({ trigger: "volume", scenario: "NI", trainer: "trainer.external" });
    expect(v2.metrics.samplesSeen).toBe(300);
    // A training that fails is recorded in the service's history with its reason.
    await runtime.undeploy("ext-cl");
    const failing = await runtime.deploy({ ...pipeline, nodes: pipeline.nodes.map((n) => (n.id === "trainer" ? { ...n, config: { ...n.config, options: { fail: true } } } : n)) });
    for (let i = 0; i < 150; i++) await failing.entrypoints.get("labels")!.invoke({ x: tensor("float32", [784], data.x.slice(i * 784, (i + 1) * 784)), y: data.y[i] });
    await failing.idle();
    await failing.entrypoints.get("trigger")!.invoke({ kind: "trigger", policy: "drift", reason: "test" });
    const history = new HistoryStore(historyRoot(path.join(dir, "data")));
    let failed;
    while (!(failed = (await history.list("ext-cl")).find((e) => e.decision === "failed"))) await new Promise((r) => setTimeout(r, 100));
    expect(failed).toMatchObject({ model: "ext", trigger: { kind: "drift" }, strategy: { trainer: "trainer.external" } });
    expect(failed.error).toMatch(/CUDA out of memory/);
    await runtime.close();
    await registry.close();
  }, 60_000);
});
