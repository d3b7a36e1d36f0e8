/**
 * model.bandit in a running pipeline: three real ONNX versions of one model (about 25%, 81% and
 * 100% accurate, test/cl/live-task.ts) on onnxruntime-node through the in-process agent; labels
 * come back as feedback messages keyed by the request's trace id; Thompson sampling (seeded) moves
 * the traffic to the best version; its records land in the CL history and the model cards.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createInProcessAgent } from "../../gpu-agent/in-process";
import type { BanditStatus } from "../../nodes/continual-learning/bandit";
import { findModelCard, HistoryStore, historyRoot } from "../../nodes/continual-learning/history";
import { tensor } from "../../sdk";
import { FsModelRegistry } from "../../runtime/registry/fs";
import { Runtime } from "../../runtime/runtime";
import { FEATURES, noisyTeacher, row, teacher, truth, unrelated } from "./live-task";

const MODEL = "bandit-mlp";
let dir: string;
let registry: FsModelRegistry;
let runtime: Runtime;
let versions: number[];

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), "evoflow-bandit-"));
  registry = new FsModelRegistry(path.join(dir, "registry"));
  runtime = new Runtime({ dataDir: dir, services: { registry, models: createInProcessAgent({ dataDir: dir, registry }) } });
  versions = [];
  for (const artifact of [unrelated(), noisyTeacher(0.05, 500), teacher.bytes]) versions.push((await registry.register({ name: MODEL, artifact })).version);
}, 30_000);

afterAll(async () => {
  await runtime?.close();
  await registry?.close();
  rmSync(dir, { recursive: true, force: true });
});

const pipeline = (bandit: Record<string, unknown>) => ({
  apiVersion: "evoflow/v1",
  name: "bandit-cl",
  nodes: [
    { id: "classify", type: "io.http", config: { name: "classify" } },
    { id: "router", type: "model.bandit", config: { model: MODEL, versions, reportEvery: 100, ...bandit } },
    { id: "labels", type: "io.http", config: { name: "labels" } },
  ],
  edges: [
    { from: "classify.out", to: "router.in", mode: "sync" },
    { from: "labels.out", to: "router.feedback", mode: "async" },
  ],
});

describe("model.bandit", () => {
  it("moves traffic to the best version as labelled feedback comes in, and records why", async () => {
    const running = await runtime.deploy(pipeline({ seed: 5 }));
    const [classify, labels] = ["classify", "labels"].map((n) => running.entrypoints.get(n)!);
    const served: number[] = [];
    for (let i = 0; i < 600; i++) {
      const [reply] = await classify.invoke(tensor("float32", [1, FEATURES], row(i)));
      served.push(Number(reply.source.model!.version));
      await labels.invoke({ requestId: reply.traceId, y: truth[i] });
    }
    await running.idle();
    // Stopping waits for the bandit's history records to be written.
    await runtime.undeploy("bandit-cl");
    const share = (from: number, to: number, v: number) => served.slice(from, to).filter((s) => s === v).length / (to - from);
    const [worst, middle, best] = versions;
    // Early on every version gets traffic; by the end nearly all of it goes to the best one.
    expect(share(0, 30, best)).toBeLessThan(0.8);
    expect(share(400, 600, best)).toBeGreaterThan(0.8);
    expect(share(400, 600, worst)).toBeLessThan(0.05);
    expect(share(400, 600, best)).toBeGreaterThan(share(0, 100, best));

    const entries = (await new HistoryStore(historyRoot(dir)).list("bandit-cl")).filter((e) => e.decision === "routed");
    expect(entries).toHaveLength(6);
    const last = entries.at(-1)!.bandit as BanditStatus;
    expect(last.rewards).toBe(600);
    expect(last.leader).toBe(best);
    const arm = (v: number) => last.arms.find((a) => a.version === v)!;
    expect(arm(best).posteriorMean).toBeGreaterThan(arm(middle).posteriorMean);
    expect(arm(middle).posteriorMean).toBeGreaterThan(arm(worst).posteriorMean);
    expect(arm(best).pulls + arm(middle).pulls + arm(worst).pulls).toBe(600);
    // Each version's card shows the bandit's latest record.
    const card = await findModelCard(registry, new HistoryStore(historyRoot(dir)), MODEL, worst);
    expect((card!.bandit as BanditStatus).arms.find((a) => a.version === worst)!.pulls).toBe(arm(worst).pulls);
  }, 60_000);

  it("refuses a bandit over one version, naming the field", () => {
    const result = runtime.validate({ ...pipeline({}), nodes: [{ id: "router", type: "model.bandit", config: { model: MODEL, versions: [1] } }], edges: [] });
    expect(result.problems.map((p) => p.path)).toContain("$.nodes[0].config.versions");
  });
});
