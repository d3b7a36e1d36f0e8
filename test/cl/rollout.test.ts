/**
 * Rollouts with a real fs registry and real ONNX models on onnxruntime-node: a canary whose
 * accuracy drops is rolled back at its first step and answers nothing afterwards; a good
 * canary climbs every step and is promoted; a shadow candidate answers no request.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { ort, type Ort } from "../../onnx/ort";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { indicesOfClasses, loadFashionMnist, subset } from "../../nodes/continual-learning/fashion-mnist";
import { rolloutConfigSchema, RolloutRouter, type Rollout } from "../../nodes/continual-learning/rollout";
import { train, trainConfigSchema } from "../../nodes/continual-learning/train";
import { FsModelRegistry } from "../../runtime/registry/fs";

const MODEL = "canary-test";
let dir: string;
let registry: FsModelRegistry;
const sessions = new Map<number, Ort.InferenceSession>();
const test = loadFashionMnist("test");

async function register(classes: number[], flipLabels = false): Promise<number> {
  const train0 = loadFashionMnist("train");
  const data = subset(train0, indicesOfClasses(train0, classes).slice(0, 3000));
  if (flipLabels) for (let i = 0; i < data.count; i++) data.y[i] = (data.y[i] + 1) % 10;
  const result = await train({ config: trainConfigSchema.parse({ epochs: 2, architecture: { hidden: [32] } }), data });
  const v = await registry.register({ name: MODEL, artifact: result.onnx });
  sessions.set(v.version, await ort.InferenceSession.create(result.onnx));
  return v.version;
}

/** Serves `count` labelled requests through the rollout's routing (or fewer, once it has finished, with `untilDone`); returns how many each version answered. */
async function serve(rollout: Rollout, count: number, offset = 0, untilDone = false): Promise<Map<number, number>> {
  const answered = new Map<number, number>();
  for (let k = 0; k < count && !(untilDone && rollout.state !== "running"); k++) {
    const i = (offset + k) % test.count;
    const { serve: version, mirror } = rollout.route();
    const run = async (v: number) => {
      const t0 = performance.now();
      const session = sessions.get(v)!;
      const out = await session.run({ [session.inputNames[0]]: new ort.Tensor("float32", test.x.slice(i * 784, (i + 1) * 784), [1, 784]) });
      const scores = out[session.outputNames[0]].data as Float32Array;
      return { predicted: scores.indexOf(Math.max(...scores)), latencyMs: performance.now() - t0 };
    };
    const answer = await run(version);
    answered.set(version, (answered.get(version) ?? 0) + 1);
    rollout.record(version, { ok: true, latencyMs: answer.latencyMs, predicted: answer.predicted, label: test.y[i] });
    if (mirror !== undefined) {
      const shadow = await run(mirror);
      rollout.record(mirror, { ok: true, latencyMs: shadow.latencyMs, predicted: shadow.predicted, label: test.y[i] }, { championPredicted: answer.predicted });
    }
    await new Promise((r) => setImmediate(r));
  }
  return answered;
}

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), "evoflow-rollout-"));
  registry = new FsModelRegistry(path.join(dir, "registry"));
});

afterAll(async () => {
  for (const s of sessions.values()) await s.release();
  await registry.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("rollouts", () => {
  it("rolls a bad canary back automatically at its first step; it answers nothing afterwards", async () => {
    const champion = await register([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    await registry.promote(MODEL, champion);
    const bad = await register([0, 1, 2, 3, 4, 5, 6, 7, 8, 9], true);
    const router = new RolloutRouter();
    const rollout = router.start(registry, MODEL, bad, champion, rolloutConfigSchema.parse({ mode: "canary", steps: [0.1, 0.5], requestsPerStep: 30, maxP99Ms: 1000 }));
    const during = await serve(rollout, 400);
    const result = await rollout.done;
    expect(result.state).toBe("rolled-back");
    expect(result.steps).toHaveLength(1);
    expect(result.steps[0].weight).toBe(0.1);
    expect(result.reason).toMatch(/accuracy/);
    // About a tenth of the traffic reached the canary before the rollback, none after it.
    expect(during.get(bad)).toBe(30);
    expect(router.get(MODEL)).toBeUndefined();
    const after = await serve(rollout, 100);
    expect(after.get(bad)).toBeUndefined();
    expect((await registry.get(MODEL, bad))!.status).toBe("rejected");
    expect((await registry.get(MODEL, "champion"))!.version).toBe(champion);
  }, 60_000);

  it("promotes a good canary after every weight step passes", async () => {
    const champion = (await registry.get(MODEL, "champion"))!.version;
    const good = await register([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const rollout = new RolloutRouter().start(registry, MODEL, good, champion, rolloutConfigSchema.parse({ mode: "canary", steps: [0.2, 0.5], requestsPerStep: 150, maxP99Ms: 1000, maxAccuracyDrop: 0.15 }));
    await serve(rollout, 5000, 1000, true);
    const result = await rollout.done;
    expect(result.state, result.reason).toBe("promoted");
    expect(result.steps.map((s) => s.weight)).toEqual([0.2, 0.5]);
    expect((await registry.get(MODEL, "champion"))!.version).toBe(good);
  }, 60_000);

  it("a step that gathers too little evidence in maxStepSeconds rolls back", async () => {
    const champion = (await registry.get(MODEL, "champion"))!.version;
    const candidate = await register([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const rollout = new RolloutRouter().start(registry, MODEL, candidate, champion, rolloutConfigSchema.parse({ mode: "canary", steps: [0.5, 1], requestsPerStep: 100, maxStepSeconds: 0.2 }));
    await serve(rollout, 20);
    const result = await rollout.done;
    expect(result.state).toBe("rolled-back");
    expect(result.reason).toMatch(/not enough evidence in 0.2 s: 10\/100 candidate answers/);
    expect(result.steps).toMatchObject([{ weight: 0.5, passed: false, candidate: { requests: 10 } }]);
    expect((await registry.get(MODEL, candidate))!.status).toBe("rejected");
  }, 60_000);

  it("serve(): a candidate that fails, or is rolled back while it runs, leaves the answer to the champion", async () => {
    const champion = (await registry.get(MODEL, "champion"))!.version;
    const candidate = await register([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const rollout = new RolloutRouter().start(registry, MODEL, candidate, champion, rolloutConfigSchema.parse({ mode: "canary", steps: [1], requestsPerStep: 3, maxErrorRate: 0.5, maxP99Ms: 1000 }));
    const classify = async (version: number, width = 784) => {
      const session = sessions.get(version)!;
      const out = await session.run({ [session.inputNames[0]]: new ort.Tensor("float32", test.x.slice(0, width), [1, width]) });
      return out[session.outputNames[0]].data as Float32Array;
    };
    // At weight 1 every request goes to the candidate first. A real onnxruntime error (wrong input width) on it: the champion answers.
    const failed = await rollout.serve("r1", (v) => (v === candidate ? classify(v, 783) : classify(v)));
    expect(failed.version).toBe(champion);
    expect((await rollout.serve("r2", (v) => classify(v))).version).toBe(candidate);
    // Rolled back while its answer was being computed: that answer is dropped for the champion's.
    const late = await rollout.serve("r3", async (v) => {
      const answer = await classify(v);
      if (v === candidate) rollout.abort("rolled back mid-request");
      return answer;
    });
    expect(late.version).toBe(champion);
    const result = await rollout.done;
    expect(result.answered).toEqual({ [String(champion)]: 2, [String(candidate)]: 1 });
    expect((await registry.get(MODEL, candidate))!.status).toBe("rejected");
  }, 60_000);

  it("shadow: the candidate gets mirrored traffic only and is compared with the champion", async () => {
    const champion = (await registry.get(MODEL, "champion"))!.version;
    const candidate = await register([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const rollout = new RolloutRouter().start(registry, MODEL, candidate, champion, rolloutConfigSchema.parse({ mode: "shadow", requestsPerStep: 150, maxP99Ms: 1000, maxAccuracyDrop: 0.15, minAgreement: 0.5 }));
    const answered = await serve(rollout, 150, 4000);
    const result = await rollout.done;
    expect(answered.get(candidate)).toBeUndefined();
    expect(answered.get(champion)).toBe(150);
    expect(result.state, result.reason).toBe("promoted");
    expect(result.steps[0].agreement).toBeGreaterThan(0.5);
  }, 60_000);
});
