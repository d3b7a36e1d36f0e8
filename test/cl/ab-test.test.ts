/**
 * A/B tests of a candidate against the champion: the mSPRT against a hand computation; the sticky
 * split; in a running pipeline (validator.gate in rollout mode "ab", model.onnx following the
 * champion, real ONNX models on onnxruntime-node through the in-process agent, a real fs
 * registry), a planted better candidate promoted on late labels; a test that refuses to decide
 * below its minimum sample, however lopsided the first answers are; a business metric from
 * feedback messages.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createInProcessAgent } from "../../gpu-agent/in-process";
import { AbTest, abTestConfigSchema, type AbTestRolloutStatus } from "../../nodes/continual-learning/ab-test";
import { findModelCard, HistoryStore, historyRoot } from "../../nodes/continual-learning/history";
import { RolloutRouter, rolloutConfigSchema } from "../../nodes/continual-learning/rollout";
import { mixtureSprt, RunningMoments } from "../../nodes/continual-learning/statistics";
import { createMessage } from "../../sdk";
import { FsModelRegistry } from "../../runtime/registry/fs";
import { Runtime } from "../../runtime/runtime";
import { abTest, type AbPipelineHost } from "./ab-pipeline";
import { noisyTeacher, teacher, unrelated } from "./live-task";

const MODEL = "ab-mlp";
let dir: string;
let registry: FsModelRegistry;
let runtime: Runtime;
const router = new RolloutRouter();
let live: AbPipelineHost;

const moments = (values: number[]) => values.reduce((m, v) => (m.add(v), m), new RunningMoments());

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), "evoflow-ab-"));
  registry = new FsModelRegistry(path.join(dir, "registry"));
  runtime = new Runtime({ dataDir: dir, services: { registry, models: createInProcessAgent({ dataDir: dir, registry }), "cl.rollouts": router } });
  await registry.promote(MODEL, (await registry.register({ name: MODEL, artifact: noisyTeacher(0.05, 500) })).version);
  live = { runtime, registry, router, dir, model: MODEL };
}, 30_000);

afterAll(async () => {
  await runtime?.close();
  await registry?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("mSPRT", () => {
  it("matches the mixture likelihood ratio computed by hand", () => {
    // Champion 0,1,1,1 (mean 0.75, s² 0.25); candidate 1,1,1,1,0,1 (mean 5/6, s² 1/6).
    const r = mixtureSprt(moments([0, 1, 1, 1]), moments([1, 1, 1, 1, 0, 1]), 0.1, 0.05);
    const V = 0.25 / 4 + 1 / 6 / 6;
    const d = 5 / 6 - 0.75;
    expect(r.difference).toBeCloseTo(d, 12);
    expect(r.variance).toBeCloseTo(V, 12);
    expect(r.likelihoodRatio).toBeCloseTo(Math.sqrt(V / (V + 0.01)) * Math.exp((0.01 * d * d) / (2 * V * (V + 0.01))), 12);
    // The interval's ends are where Λ against θ₀ reaches 1/α.
    const edge = r.interval[1] - d;
    expect(Math.sqrt(V / (V + 0.01)) * Math.exp((0.01 * edge * edge) / (2 * V * (V + 0.01)))).toBeCloseTo(20, 6);
  });
});

describe("sticky split", () => {
  it("gives a key the same version every time, about `share` of keys to the candidate, and a new split for a new candidate", async () => {
    const config = abTestConfigSchema.parse({ key: "payload.user", share: 0.3 });
    const a = new AbTest(registry, MODEL, 7, 1, config, 0.01);
    const again = new AbTest(registry, MODEL, 7, 1, config, 0.01);
    const other = new AbTest(registry, MODEL, 8, 1, config, 0.01);
    const keys = Array.from({ length: 4000 }, (_, i) => `user-${i}`);
    const first = keys.map((k) => a.assign(k));
    expect(keys.map((k) => a.assign(k))).toEqual(first);
    expect(keys.map((k) => again.assign(k))).toEqual(first);
    const share = first.filter((v) => v === 7).length / keys.length;
    expect(share).toBeGreaterThan(0.27);
    expect(share).toBeLessThan(0.33);
    const moved = keys.filter((k, i) => (other.assign(k) === 8) !== (first[i] === 7)).length;
    expect(moved).toBeGreaterThan(keys.length * 0.2);
    for (const t of [a, again, other]) t.abort("test over");
  });

  it("mode ab without a key is refused with its path", () => {
    const result = rolloutConfigSchema.safeParse({ mode: "ab" });
    expect(result.success).toBe(false);
    expect(result.error!.issues[0].path).toEqual(["ab", "key"]);
  });
});

describe("A/B test in a running pipeline", () => {
  it("promotes a planted better candidate on late labels, never deciding below minSamples; each user sees one version", async () => {
    const champion = (await registry.get(MODEL, "champion"))!.version;
    const { version, entry, result, byUser, looks, deadLetters } = await abTest(live, { key: "payload.user", minSamples: 150, tau: 0.1 }, teacher.bytes);

    expect(result.state, result.reason).toBe("promoted");
    expect(result.abTest.outcome).toBe("better");
    expect(result.reason).toMatch(/candidate significantly better at α=0.05: accuracy (1|0\.9\d*) \(n=\d+\) vs champion 0\.\d+/);
    const { champion: h, candidate: c, sequential } = result.abTest;
    expect(Math.min(h.scored, c.scored)).toBeGreaterThanOrEqual(150);
    expect(c.mean!).toBeGreaterThan(0.97);
    expect(h.mean!).toBeGreaterThan(0.7);
    expect(h.mean!).toBeLessThan(0.9);
    expect(sequential!.pValue).toBeLessThanOrEqual(0.05);
    expect(sequential!.interval[0]).toBeGreaterThan(0);
    // Every look before both versions had 150 scored answers left the test running.
    expect(looks.filter((l) => Math.min(...l.scored) < 150).every((l) => l.state === "running" && !l.decided)).toBe(true);
    // Sticky: no user was answered by both versions while the test ran.
    expect([...byUser.values()].filter((versions) => versions.size > 1)).toEqual([]);
    expect(new Set([...byUser.values()].map((v) => [...v][0]))).toEqual(new Set([champion, version]));
    expect(entry.decision).toBe("promoted");
    expect((await registry.get(MODEL, "champion"))!.version).toBe(version);
    expect(deadLetters).toBe(0);
    // The model card carries the test's statistics.
    const card = await findModelCard(registry, new HistoryStore(historyRoot(dir)), MODEL, version);
    expect((card!.rollout as AbTestRolloutStatus).abTest.sequential!.pValue).toBe(sequential!.pValue);
  }, 90_000);

  it("refuses to decide on too few samples: a far worse candidate that never reaches minSamples stops undecided and the champion stays", async () => {
    const champion = (await registry.get(MODEL, "champion"))!.version;
    // 60 requests, half the keys each: neither version reaches 100 scored answers.
    const { version, result, looks } = await abTest(live, { key: "payload.user", minSamples: 100, maxSeconds: 3 }, unrelated(), 60);
    expect(result.state).toBe("rolled-back");
    expect(result.abTest.outcome).toBe("inconclusive");
    expect(result.abTest.sequential).toBeUndefined();
    expect(result.reason).toMatch(/no significant difference within 3 s/);
    // It was already far behind: a fixed-sample test would have called it.
    expect(result.abTest.candidate.mean!).toBeLessThan(result.abTest.champion.mean! - 0.3);
    expect(looks.every((l) => l.state === "running")).toBe(true);
    expect((await registry.get(MODEL, "champion"))!.version).toBe(champion);
    expect((await registry.get(MODEL, version))!.status).toBe("rejected");
  }, 60_000);

  it("judges a business metric from feedback messages", async () => {
    const champion = (await registry.get(MODEL, "champion"))!.version;
    const version = (await registry.register({ name: MODEL, artifact: teacher.bytes })).version;
    const test = new AbTest(registry, MODEL, version, champion, abTestConfigSchema.parse({ key: "payload.user", metric: "feedback", feedbackAt: "payload.revenue", minSamples: 100, tau: 1 }), 0.01);
    const source = { pipeline: "p", node: "n", port: "out" };
    let i = 0;
    while (test.state === "running" && i < 5000) {
      const request = createMessage(source, { user: `u${i}` });
      const served = await test.serve(request.traceId, async (v) => v, request);
      // Revenue: the candidate's users spend 1 more on average (deterministic spread around the mean).
      const revenue = 5 + (served.version === version ? 1 : 0) + ((i * 37) % 11) / 5 - 1;
      test.feedback(request.traceId, createMessage(source, { requestId: request.traceId, revenue }));
      i++;
    }
    const result = await test.done;
    expect(result.state, result.reason).toBe("promoted");
    expect(result.abTest.metric).toBe("payload.revenue");
    expect(result.abTest.sequential!.difference).toBeGreaterThan(0.8);
    expect(Math.min(result.abTest.champion.scored, result.abTest.candidate.scored)).toBeGreaterThanOrEqual(100);
  }, 30_000);
});
