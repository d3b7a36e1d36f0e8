/**
 * An A/B test run through a pipeline: validator.gate in rollout mode "ab" and model.onnx following
 * the champion (tensorField "x", so each request is { user, x }), labels 5 answers late on the
 * gate's holdout port. Used by test/cl/ab-test.test.ts and the editor's model-card test.
 */
import type { AbTest, AbTestRolloutStatus } from "../../nodes/continual-learning/ab-test";
import { HistoryStore, historyRoot, type HistoryEntry } from "../../nodes/continual-learning/history";
import type { RolloutRouter } from "../../nodes/continual-learning/rollout";
import { tensor } from "../../sdk";
import type { FsModelRegistry } from "../../runtime/registry/fs";
import type { Runtime } from "../../runtime/runtime";
import { FEATURES, row, truth } from "./live-task";

const USERS = 300;

export interface AbPipelineHost {
  runtime: Runtime;
  registry: FsModelRegistry;
  router: RolloutRouter;
  dir: string;
  model: string;
}

const pipeline = (model: string, ab: Record<string, unknown>) => ({
  apiVersion: "evoflow/v1",
  name: "ab-cl",
  nodes: [
    { id: "classify", type: "io.http", config: { name: "classify" } },
    { id: "model", type: "model.onnx", config: { model: `${model}@champion`, tensorField: "x", maxBatchSize: 1 } },
    { id: "labels", type: "io.http", config: { name: "labels" } },
    { id: "feedback", type: "io.http", config: { name: "feedback" } },
    { id: "candidates", type: "io.http", config: { name: "candidates" } },
    // Offline checks left open, so the A/B test is what decides.
    { id: "gate", type: "validator.gate", config: { minAccuracy: 0, maxRegression: 1, maxClassRegression: 1, maxGoldenRegression: 1, maxP99Ms: 10_000, latencyRuns: 10, rollout: { mode: "ab", ab } } },
    { id: "decisions", type: "io.sink", config: { kind: "discard" } },
  ],
  edges: [
    { from: "classify.out", to: "model.in", mode: "sync" },
    { from: "labels.out", to: "gate.holdout", mode: "async" },
    { from: "feedback.out", to: "gate.feedback", mode: "async" },
    { from: "candidates.out", to: "gate.candidate", mode: "async" },
    { from: "gate.decision", to: "decisions.in", mode: "async" },
  ],
});

/** Deploys, feeds the gate its holdout, sends a candidate, then serves keyed requests (labels `labelDelay` answers late) until the history has the decision. */
export async function abTest(host: AbPipelineHost, ab: Record<string, unknown>, artifact: Uint8Array, maxRequests = 6000) {
  const running = await host.runtime.deploy(pipeline(host.model, ab));
  const [classify, labels, candidates] = ["classify", "labels", "candidates"].map((n) => running.entrypoints.get(n)!);
  for (let i = 0; i < 200; i++) await labels.invoke({ x: tensor("float32", [FEATURES], row(i)), y: truth[i] });
  await running.idle();
  const version = (await host.registry.register({ name: host.model, artifact })).version;
  await candidates.invoke({ kind: "candidate", name: host.model, version, trigger: { kind: "test" }, scenario: "NI", newClasses: [], snapshot: { id: "s", count: 0, classes: {}, source: {} }, strategy: { trainer: "test" }, trainingMs: 0, samplesSeen: 0, sizeBytes: 0 });
  while (!host.router.get(host.model)) await new Promise((r) => setTimeout(r, 10));
  const test = host.router.get(host.model) as AbTest;
  const byUser = new Map<string, Set<number>>();
  const history = new HistoryStore(historyRoot(host.dir));
  const pending: { traceId: string; i: number }[] = [];
  const looks: { state: string; scored: [number, number]; decided: boolean }[] = [];
  for (let n = 0; n < maxRequests && test.state === "running"; n++) {
    const i = 200 + n;
    const user = `u${(n * 7919) % USERS}`;
    const [reply] = await classify.invoke({ user, x: tensor("float32", [1, FEATURES], row(i)) });
    const served = Number(reply.source.model!.version);
    if (!byUser.has(user)) byUser.set(user, new Set());
    byUser.get(user)!.add(served);
    pending.push({ traceId: reply.traceId, i });
    if (pending.length > 5) {
      const { traceId, i: k } = pending.shift()!;
      await labels.invoke({ x: tensor("float32", [FEATURES], row(k)), y: truth[k % truth.length], requestId: traceId });
      // No idle() here: the gate is busy with the candidate until the test ends.
      const s = test.status().abTest;
      looks.push({ state: test.state, scored: [s.champion.scored, s.candidate.scored], decided: s.outcome !== undefined });
    }
  }
  let entry: HistoryEntry | undefined;
  while (!(entry = (await history.list("ab-cl")).find((e) => e.version === version && e.decision !== "pending"))) await new Promise((r) => setTimeout(r, 20));
  const deadLetters = running.deadLetterCount();
  await host.runtime.undeploy("ab-cl");
  return { version, entry, result: entry.rollout as AbTestRolloutStatus, byUser, looks, deadLetters };
}

