/**
 * trainer.tfjs between trainings: the examples of a candidate that was not promoted train again
 * with the next ones (read back from its snapshot, not held in the serving process), and the CL
 * state goes from the champion's file to the candidate's through the training process.
 */
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { indicesOfClasses, loadFashionMnist, subset } from "../../nodes/continual-learning/fashion-mnist";
import { readSnapshot } from "../../nodes/continual-learning/snapshot";
import { readStateFile } from "../../nodes/continual-learning/state-store";
import { FsModelRegistry } from "../../runtime/registry/fs";
import { Runtime } from "../../runtime/runtime";
import { tensor } from "../../sdk/ports";

const dir = mkdtempSync(path.join(tmpdir(), "evoflow-cl-state-files-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("trainer.tfjs between trainings", () => {
  it("retrains a rejected candidate's examples with the new ones, and hands the CL state on through files", async () => {
    const registry = new FsModelRegistry(path.join(dir, "registry"));
    const runtime = new Runtime({ dataDir: path.join(dir, "data"), services: { registry } });
    const running = await runtime.deploy({
      apiVersion: "evoflow/v1",
      name: "state-cl",
      nodes: [
        { id: "labels", type: "io.http", config: { name: "labels" } },
        { id: "trigger", type: "io.http", config: { name: "trigger" } },
        { id: "trainer", type: "trainer.tfjs", config: { model: "sf", epochs: 1, minSamples: 100, holdoutShare: 0, classes: 10, architecture: { hidden: [8] }, replay: { memSize: 60 } } },
        { id: "out", type: "io.sink", config: { kind: "discard" } },
      ],
      edges: [
        { from: "labels.out", to: "trainer.data", mode: "async" },
        { from: "trigger.out", to: "trainer.trigger", mode: "async" },
        { from: "trainer.candidate", to: "out.in", mode: "async" },
      ],
    });
    const test = loadFashionMnist("test");
    const early = subset(test, indicesOfClasses(test, [0, 1, 2]).slice(0, 270));
    const late = subset(test, indicesOfClasses(test, [3, 4]).slice(0, 110));
    const send = async (set: typeof test, from: number, to: number) => {
      for (let i = from; i < to; i++) await running.entrypoints.get("labels")!.invoke({ x: tensor("float32", [784], set.x.slice(i * 784, (i + 1) * 784)), y: set.y[i] });
      await running.idle();
    };
    const trainVersion = async (version: number) => {
      await running.entrypoints.get("trigger")!.invoke({ kind: "trigger", policy: "volume", reason: "test" });
      let v;
      while (!(v = await registry.get("sf", version))) await new Promise((r) => setTimeout(r, 100));
      await running.idle();
      const snapshot = await readSnapshot(path.join(dir, "data", "state-cl", "trainer", "snapshots", (v.lineage.data as { snapshot: string }).snapshot));
      return { v, meta: snapshot.meta };
    };
    const stateDir = path.join(dir, "data", "state-cl", "trainer", "state");

    await send(early, 0, 150);
    const first = await trainVersion(1);
    expect(first.meta.count).toBe(150);
    // v1 is not promoted: its 150 examples train again with the next 120.
    await send(early, 150, 270);
    const second = await trainVersion(2);
    expect(second.meta.count).toBe(270);
    expect(second.meta.source.messageIds).toHaveLength(270);
    expect(new Set(second.meta.source.messageIds).size).toBe(270);
    expect(second.meta.source.messageIds!.slice(0, 150)).toEqual(first.meta.source.messageIds);

    // Promoted: the next training has only its own examples, and starts from v2's state file.
    await registry.promote("sf", 2);
    await send(late, 0, 110);
    const third = await trainVersion(3);
    expect(third.meta.count).toBe(110);
    expect(third.v.lineage.baseVersion).toBe(2);
    const v2State = (await readStateFile(path.join(stateDir, "sf@2.v8")))!;
    const v3State = (await readStateFile(path.join(stateDir, "sf@3.v8")))!;
    expect(v2State.seenClasses).toEqual([0, 1, 2]);
    expect(v3State.seenClasses).toEqual([0, 1, 2, 3, 4]);
    expect(v3State.experiences).toBe(v2State.experiences + 1);
    // The replay memory holds old classes from v2's state beside the new ones.
    expect(new Set(v3State.replay!.y)).toEqual(new Set([0, 1, 2, 3, 4]));
    expect(third.v.labels.classes).toBe("0,1,2,3,4");
    expect(readdirSync(stateDir).sort()).toEqual(["sf@1.v8", "sf@2.v8", "sf@3.v8"]);
    await runtime.close();
    await registry.close();
  }, 120_000);
});
