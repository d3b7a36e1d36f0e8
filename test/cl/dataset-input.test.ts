/**
 * trainer.tfjs fed by the drift engineer's samplers: a trigger makes the rehearsal buffer emit
 * its memory, the mixer builds a training set of new data + rehearsal, and the trainer trains on
 * exactly that set and names it in the candidate's lineage.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadFashionMnist, subset } from "../../nodes/continual-learning/fashion-mnist";
import { readSnapshot } from "../../nodes/continual-learning/snapshot";
import { tensor } from "../../sdk/ports";
import { FsModelRegistry } from "../../runtime/registry/fs";
import { Runtime } from "../../runtime/runtime";
import { makeMlp } from "../fixtures/mlp";

const dir = mkdtempSync(path.join(tmpdir(), "evoflow-cl-dataset-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("trainer.tfjs on a sampler's dataset", () => {
  it("trains on the mixer's training set when it arrives and records it as the candidate's data", async () => {
    const registry = new FsModelRegistry(path.join(dir, "registry"));
    const champion = await registry.register({ name: "mix", artifact: makeMlp({ sizes: [784, 16, 10], softmax: true }).bytes, labels: { classes: "0,1,2,3,4,5,6,7,8,9" } });
    await registry.promote("mix", champion.version);
    const runtime = new Runtime({ dataDir: path.join(dir, "data"), services: { registry } });
    const running = await runtime.deploy({
      apiVersion: "evoflow/v1",
      name: "mix-cl",
      nodes: [
        { id: "labels", type: "io.http", config: { name: "labels" } },
        { id: "trigger", type: "io.http", config: { name: "trigger" } },
        { id: "memory", type: "sampler.rehearsal", config: { memorySize: 100 } },
        { id: "mixer", type: "sampler.mixer", config: { size: 300, ratio: 0.7 } },
        { id: "trainer", type: "trainer.tfjs", config: { model: "mix", epochs: 1, minSamples: 100 } },
        { id: "out", type: "io.sink", config: { kind: "discard" } },
      ],
      edges: [
        { from: "labels.out", to: "memory.in", mode: "async" },
        { from: "labels.out", to: "mixer.new", mode: "async" },
        { from: "trigger.out", to: "memory.snapshot", mode: "async" },
        { from: "memory.snapshot", to: "mixer.memory", mode: "async" },
        { from: "mixer.dataset", to: "trainer.dataset", mode: "async" },
        { from: "trainer.candidate", to: "out.in", mode: "async" },
      ],
    });
    const data = subset(loadFashionMnist("test"), Array.from({ length: 400 }, (_, i) => i));
    for (let i = 0; i < data.count; i++) await running.entrypoints.get("labels")!.invoke({ x: tensor("float32", [784], data.x.slice(i * 784, (i + 1) * 784)), y: data.y[i] });
    await running.idle();
    await running.entrypoints.get("trigger")!.invoke({ kind: "trigger", policy: "volume", reason: "400 new samples" });
    let v2;
    while (!(v2 = await registry.get("mix", 2))) await new Promise((r) => setTimeout(r, 100));
    expect(v2.labels.trigger).toBe("dataset");
    expect(v2.lineage).toMatchObject({ baseVersion: 1, trainer: { dataSource: { stream: "mix-cl.mixer" } } });
    // The snapshot on disk holds exactly the mixer's 300 examples.
    const snapshotId = (v2.lineage.data as { snapshot: string }).snapshot;
    const { meta } = await readSnapshot(path.join(dir, "data", "mix-cl", "trainer", "snapshots", snapshotId));
    expect(meta.count).toBe(300);
    expect(meta.source.messageIds).toHaveLength(300);
    await runtime.close();
    await registry.close();
  }, 60_000);
});
