/** The CL routes and commands over a real data folder: history entries and model cards. */
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApi } from "../../runtime/api/server";
import { HistoryStore, historyRoot, type HistoryEntry } from "../../nodes/continual-learning/history";
import { clMetrics } from "../../nodes/continual-learning/metrics";
import { rolloutConfigSchema, RolloutRouter, type RolloutStatus } from "../../nodes/continual-learning/rollout";
import { FsModelRegistry } from "../../runtime/registry/fs";
import { Runtime } from "../../runtime/runtime";
import { makeMlp } from "../fixtures/mlp";

const run = promisify(execFile);
let dir: string;
let registry: FsModelRegistry;
let runtime: Runtime;

const entry = (version: number, decision: HistoryEntry["decision"], matrix: (number | null)[][]): HistoryEntry => {
  const m = clMetrics(matrix);
  return {
    id: `fm@${version}`,
    service: "fm-cl",
    model: "fm",
    version,
    baseVersion: version - 1,
    at: new Date(Date.UTC(2026, 0, version)).toISOString(),
    trigger: { kind: "drift", reason: "ks p=0.001 on pixel 14" },
    scenario: "NC",
    strategy: { trainer: "trainer.tfjs", mode: "stateful", replay: { memSize: 200 } },
    snapshot: { id: `snap-${version}`, count: 1200, classes: { "5": 600, "6": 600 }, source: { stream: "fm-cl.trainer.data" } },
    trainingMs: 1500,
    samplesSeen: 3600,
    sizeBytes: 4000,
    metrics: { accuracyMatrix: matrix, averageAccuracy: m.averageAccuracy, bwt: m.bwt, forgetting: m.forgetting, holdoutAccuracy: 0.8 },
    decision,
  };
};

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), "evoflow-clapi-"));
  registry = new FsModelRegistry(path.join(dir, "registry"));
  for (let i = 0; i < 3; i++) await registry.register({ name: "fm", artifact: makeMlp({ sizes: [4, 3], seed: i + 1 }).bytes });
  await registry.promote("fm", 2);
  await registry.setStatus("fm", 3, "rejected", "golden-set");
  const history = new HistoryStore(historyRoot(dir));
  await history.append(entry(2, "promoted", [[0.9, null]]));
  await history.append(entry(3, "rejected", [[0.9, null], [0.4, 0.2]]));
  runtime = new Runtime({ dataDir: dir, services: { registry } });
});

afterAll(async () => {
  await runtime.close();
  await registry.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("CL API", () => {
  it("GET /api/services/:name/history lists every update, accepted or rejected", async () => {
    const app = await createApi({ runtime });
    const res = await app.inject({ method: "GET", url: "/api/services/fm-cl/history" });
    expect(res.statusCode).toBe(200);
    const body = res.json() as { entries: HistoryEntry[] };
    expect(body.entries.map((e) => [e.version, e.decision])).toEqual([[2, "promoted"], [3, "rejected"]]);
    // Each with its rollout in words, as the CLI's history table prints it ("-": promoted directly).
    expect(body.entries.map((e) => (e as HistoryEntry & { rolloutSummary: string }).rolloutSummary)).toEqual(["-", "-"]);
    expect(body.entries[1].metrics!.forgetting).toBeCloseTo(0.5, 6);
    expect(body.entries[1].metrics!.bwt).toBeCloseTo(-0.5, 6);
    const missing = await app.inject({ method: "GET", url: "/api/services/nope/history" });
    expect(missing.statusCode).toBe(404);
    expect(missing.json().error).toMatch(/no CL service/);
    await app.close();
  });

  it("GET /api/models/:name/:version/card joins the registry record and the history entry", async () => {
    const app = await createApi({ runtime });
    const card = (await app.inject({ method: "GET", url: "/api/models/fm/3/card" })).json();
    expect(card).toMatchObject({ model: "fm", version: 3, status: "rejected", decision: "rejected", scenario: "NC", trigger: { kind: "drift" }, training: { ms: 1500, samplesSeen: 3600 } });
    expect(card.metrics.accuracyMatrix).toEqual([[0.9, null], [0.4, 0.2]]);
    expect(card.artifact.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect((await app.inject({ method: "GET", url: "/api/models/fm/champion/card" })).json()).toMatchObject({ version: 2, status: "champion" });
    const bad = await app.inject({ method: "GET", url: "/api/models/fm/abc/card" });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error).toMatch(/invalid version/);
    expect((await app.inject({ method: "GET", url: "/api/models/fm/9/card" })).statusCode).toBe(404);
    await app.close();
  });

  it("GET /api/rollouts and a pending history entry show a running rollout's progress; the last finished one stays listed", async () => {
    const without = await createApi({ runtime });
    const refused = await without.inject({ method: "GET", url: "/api/rollouts" });
    expect(refused.statusCode).toBe(404);
    expect(refused.json().error).toMatch(/no "cl.rollouts" service/);
    await without.close();
    const router = new RolloutRouter();
    const withRollouts = new Runtime({ dataDir: dir, services: { registry, "cl.rollouts": router } });
    const app = await createApi({ runtime: withRollouts });
    const candidate = (await registry.register({ name: "fm", artifact: makeMlp({ sizes: [4, 3], seed: 9 }).bytes })).version;
    const rollout = router.start(registry, "fm", candidate, 2, rolloutConfigSchema.parse({ mode: "canary", steps: [0.5, 1], requestsPerStep: 2, maxP99Ms: 1000 }));
    await new HistoryStore(historyRoot(dir)).append({ ...entry(candidate, "pending", [[0.9]]), service: "fm-rollout", rollout: rollout.status() });
    // Two candidate answers pass the first step.
    for (let i = 0; i < 4; i++) rollout.record(rollout.route().serve, { ok: true, latencyMs: 1, predicted: 0, label: 0 });
    const [pending] = (await app.inject({ method: "GET", url: "/api/services/fm-rollout/history" })).json().entries as HistoryEntry[];
    expect(pending.rollout).toMatchObject({ state: "running", step: 1, weight: 1, steps: [{ weight: 0.5, passed: true }] });
    const listed = (await app.inject({ method: "GET", url: "/api/rollouts" })).json().rollouts as RolloutStatus[];
    expect(listed).toMatchObject([{ model: "fm", candidate, champion: 2, mode: "canary", state: "running", step: 1 }]);
    rollout.abort("test over");
    await rollout.done;
    expect((await app.inject({ method: "GET", url: "/api/rollouts" })).json().rollouts).toMatchObject([{ candidate, state: "rolled-back", reason: "test over" }]);
    expect((await registry.get("fm", candidate))!.status).toBe("rejected");
    await app.close();
    await withRollouts.close();
  });
});

describe("CL commands", () => {
  const cli = (...args: string[]) => run(process.execPath, ["--import", "tsx", "runtime/cli/main.ts", ...args], { env: { ...process.env, EVOFLOW_REGISTRY: "" } });

  it("evoflow history prints one row per update with decision and reasons", async () => {
    const { stdout } = await cli("history", "fm-cl", "--data", dir);
    const lines = stdout.trim().split("\n");
    expect(lines[0]).toMatch(/^version\s+at\s+decision/);
    expect(lines[1]).toMatch(/^fm@2 .* promoted .*drift: ks p=0.001/);
    expect(lines[2]).toMatch(/^fm@3 .* rejected/);
  }, 30_000);

  it("evoflow history summarises each rollout and gives a rolled-back candidate's reason", async () => {
    const steps = [0.1, 0.25].map((weight, step) => ({ step, weight, candidate: { requests: 50, errorRate: 0, p99Ms: 1, labelled: 30 }, champion: { requests: 450, labelled: 400 }, passed: step === 0, reasons: [] }));
    const rollout = { model: "fm", candidate: 5, champion: 2, mode: "canary", state: "rolled-back", startedAt: "", step: 1, weight: 0.25, steps, answered: { "2": 640, "5": 67 }, mirrored: 0 };
    const reason = "canary rollout rolled back: step 2: accuracy 40.0% vs champion 80.0% on labelled requests";
    await new HistoryStore(historyRoot(dir)).append({ ...entry(5, "rejected", [[0.9]]), service: "fm-canary", rollout, reason });
    const { stdout } = await cli("history", "fm-canary", "--data", dir);
    expect(stdout.trim().split("\n")[1]).toMatch(/^fm@5 .* rejected .* canary rolled-back at 25% +canary rollout rolled back: step 2: accuracy 40.0%/);
  }, 30_000);

  it("evoflow card prints the card; a missing version exits 1 with a message", async () => {
    const { stdout } = await cli("card", "fm@3", "--data", dir, "--json");
    expect(JSON.parse(stdout)).toMatchObject({ model: "fm", version: 3, status: "rejected", decision: "rejected" });
    const text = (await cli("card", "fm@2", "--data", dir)).stdout;
    expect(text).toContain("accuracy matrix");
    await expect(cli("card", "fm@9", "--data", dir)).rejects.toMatchObject({ code: 1, stderr: expect.stringContaining("no model fm@9") });
  }, 30_000);
});
