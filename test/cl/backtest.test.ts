/**
 * `evoflow cl backtest` on a synthetic stream with a known change point: 2 features, the class
 * is x0 > 0 until sample 600 and x0 < 0 after it (the concept flips). With 6 windows of 200,
 * windows 3–5 follow the change: models trained on windows 1–2 ages back score high on the
 * newest window, older ones low; retraining on the pipeline's DDM alarm recovers after the
 * change, never retraining does not. Read from a JSONL file (through the real CLI) and from a
 * real nats-server's JetStream stream that a deployed pipeline recorded.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { backtestCommand } from "../../nodes/continual-learning/backtest-cli";
import type { BacktestResult } from "../../nodes/continual-learning/backtest";
import { commandHost } from "../../runtime/cli/command-host";
import { FsModelRegistry } from "../../runtime/registry/fs";
import { Runtime } from "../../runtime/runtime";
import { NatsTransport } from "../../runtime/transport/nats";
import { seededRandom } from "../../sdk/random";
import { evoflowOnce, until } from "../nats/cli";
import { NatsServer } from "../nats/server";

const CHANGE = 600;
const COUNT = 1200;
const START = Date.parse("2026-01-01T00:00:00Z");

function stream(): { x: number[]; y: number; ts: number }[] {
  const random = seededRandom(3);
  return Array.from({ length: COUNT }, (_, i) => {
    const x = [random() * 2 - 1, random() * 2 - 1];
    const positive = x[0] > 0;
    // 100 messages an hour: the stream spans 12 hours of message time.
    return { x, y: (i < CHANGE ? positive : !positive) ? 1 : 0, ts: START + i * 36_000 };
  });
}

const pipeline = (source: Record<string, unknown>) => ({
  apiVersion: "evoflow/v1",
  name: "flip",
  nodes: [
    { id: "ddm", type: "drift.ddm", config: { value: "payload.error" } },
    { id: "gen", type: "io.generator", config: { source } },
    // Its own policies on message time: a rolling accuracy under 75%, at most once an hour (100 messages), or the DDM alarm.
    { id: "retrain", type: "control.trigger", config: { cooldownMs: 3_600_000, performance: { correct: "payload.correct", threshold: 0.75, window: 100, minOutcomes: 50 } } },
    // The generator's records, passed on as they are, to the trainer's labelled port.
    { id: "label", type: "transform.jsonata", config: { expression: "$" } },
    {
      id: "trainer",
      type: "trainer.tfjs",
      config: { model: "flip", mode: "stateless", architecture: { kind: "softmax-regression" }, classes: 2, epochs: 15, learningRate: 0.1, batchSize: 32, minSamples: 50, holdoutShare: 0.2 },
    },
  ],
  edges: [
    { from: "gen.out", to: "label.in", mode: "async" },
    { from: "label.out", to: "trainer.data", mode: "async" },
    { from: "ddm.drift", to: "retrain.drift", mode: "async" },
    { from: "retrain.out", to: "trainer.trigger", mode: "async" },
  ],
});

let dir: string;
let pipelineFile: string;

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), "evoflow-backtest-"));
  mkdirSync(path.join(dir, "data"));
  writeFileSync(path.join(dir, "data/stream.jsonl"), stream().map((s) => JSON.stringify(s)).join("\n") + "\n");
  pipelineFile = path.join(dir, "flip.json");
  writeFileSync(pipelineFile, JSON.stringify(pipeline({ kind: "jsonl", path: "stream.jsonl" })));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** `spread`: the messages' times span the stream's 12 hours (the JSONL's), not the second in which a generator sent them. */
function expectKnownChange(result: BacktestResult, spread: boolean): void {
  const byAge = new Map(result.freshness.map((f) => [f.age, f.accuracy]));
  expect([...byAge.keys()]).toEqual([1, 2, 3, 4, 5]);
  // Ages 1–2 are windows 4 and 3, after the change; ages 3–5 are before it.
  expect(Math.min(byAge.get(1)!, byAge.get(2)!)).toBeGreaterThan(0.85);
  expect(Math.max(byAge.get(3)!, byAge.get(4)!, byAge.get(5)!)).toBeLessThan(0.2);
  const never = result.schedules.find((s) => s.policy.kind === "never")!;
  const drift = result.schedules.find((s) => s.policy.kind === "drift")!;
  expect(never.trainings).toBe(0);
  expect(never.cpuSeconds).toBe(0);
  expect(never.recentAccuracy).toBeLessThan(0.2);
  expect(drift.trainings).toBeGreaterThan(0);
  expect(drift.retrainedAt[0]).toBeGreaterThan(CHANGE);
  expect(drift.cpuSeconds).toBeGreaterThan(0);
  expect(drift.samplesSeen).toBeGreaterThan(0);
  expect(drift.accuracy).toBeGreaterThan(never.accuracy + 0.2);
  expect(drift.recentAccuracy).toBeGreaterThan(0.85);
  // The pipeline's trigger: its DDM alarm right after the change retrains on the old concept's examples; its performance policy, an hour apart, recovers.
  const trigger = result.schedules.find((s) => s.policy.kind === "trigger")!;
  // Its hour of cooldown is message time: a stream sent within a second gets the one training.
  if (!spread) return void expect(trigger.trainings).toBe(1);
  expect(trigger.trainings).toBeGreaterThan(1);
  const gaps = trigger.retrainedAt.slice(1).map((at, i) => at - trigger.retrainedAt[i]);
  expect(Math.min(...gaps)).toBeGreaterThanOrEqual(100);
  expect(trigger.recentAccuracy).toBeGreaterThan(0.85);
  expect(trigger.accuracy).toBeGreaterThan(never.accuracy + 0.2);
}

describe("evoflow cl backtest", () => {
  it("replays a JSONL stream through the pipeline's trainer and drift node: tables, JSON and chart", async () => {
    const run = await evoflowOnce(["cl", "backtest", pipelineFile, "--data", path.join(dir, "data"), "--input", "stream.jsonl", "--every", "200", "--every-hours", "3"]);
    expect(run.stderr).toMatch(/1200 labelled examples; trainer trainer \(stateless\), drift node ddm \(drift\.ddm, watching the model's errors\), trigger retrain \(fed by ddm\)/);
    expect(run.stderr).toMatch(/freshness: window age 5/);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/accuracy on newest/);
    for (const name of ["never retrain", "every 200 samples", "every 3 h", "on drift \\(ddm\\)", "pipeline's trigger \\(retrain\\)"]) expect(run.stdout).toMatch(new RegExp(name));
    const doc = JSON.parse(readFileSync(path.join(dir, "data/backtest/flip.json"), "utf8")) as BacktestResult & { source: { kind: string } };
    expect(doc.source.kind).toBe("jsonl");
    expect(doc.samples).toBe(COUNT);
    expectKnownChange(doc, true);
    // Every 200 samples and every 3 hours (300 samples) retrain on schedule: 5 and 3 times from sample 200.
    expect(doc.schedules.find((s) => s.policy.kind === "samples")!.trainings).toBe(5);
    expect(doc.schedules.find((s) => s.policy.kind === "hours")!.trainings).toBe(3);
    const svg = readFileSync(path.join(dir, "data/backtest/flip.svg"), "utf8");
    expect(svg).toMatch(/^<svg /);
    expect(svg.match(/<polyline /g)).toHaveLength(1 + doc.schedules.length);
  }, 180_000);

  it("refuses bad input with a clear error", async () => {
    const data = path.join(dir, "data");
    const opts = { data, windows: "6" };
    await expect(backtestCommand(commandHost, pipelineFile, { ...opts, input: "missing.jsonl" })).rejects.toThrow(`--input: no such file "missing.jsonl" in the data folder ${data}`);
    await expect(backtestCommand(commandHost, pipelineFile, { ...opts, input: "../flip.json" })).rejects.toThrow(`--input: "../flip.json" leaves the data folder ${data}`);
    await expect(backtestCommand(commandHost, pipelineFile, { ...opts, input: "/etc/passwd" })).rejects.toThrow("--input: absolute paths are not allowed");
    symlinkSync(pipelineFile, path.join(data, "link.jsonl"));
    await expect(backtestCommand(commandHost, pipelineFile, { ...opts, input: "link.jsonl" })).rejects.toThrow(`"link.jsonl" leaves the data folder ${data} through a symbolic link`);
    await expect(backtestCommand(commandHost, pipelineFile, opts)).rejects.toThrow("give the recorded stream: --input");
    await expect(backtestCommand(commandHost, pipelineFile, { ...opts, input: "stream.jsonl", windows: "1" })).rejects.toThrow('--windows: an integer ≥ 2, got "1"');
    await expect(backtestCommand(commandHost, pipelineFile, { ...opts, input: "stream.jsonl", out: "../../escape" })).rejects.toThrow("--out: \"../../escape\" leaves");
    await expect(backtestCommand(commandHost, pipelineFile, { ...opts, input: "stream.jsonl", every: "0" })).rejects.toThrow('--every: "0" is not a positive integer');

    const noTrainer = path.join(dir, "no-trainer.json");
    const p: { nodes: { id: string; config: Record<string, unknown> }[] } = pipeline({ kind: "synthetic" });
    writeFileSync(noTrainer, JSON.stringify({ ...p, nodes: p.nodes.filter((n) => n.id !== "trainer"), edges: [] }));
    await expect(backtestCommand(commandHost, noTrainer, { ...opts, input: "stream.jsonl" })).rejects.toThrow("pipeline flip has no trainer node");

    const badConfig = path.join(dir, "bad-config.json");
    p.nodes[4].config = { ...p.nodes[4].config, epochs: 0 };
    writeFileSync(badConfig, JSON.stringify(p));
    await expect(backtestCommand(commandHost, badConfig, { ...opts, input: "stream.jsonl" })).rejects.toThrow("nodes[4].config.epochs:");

    writeFileSync(path.join(data, "unlabelled.jsonl"), `{"x":[1,2],"y":0}\n{"x":[1,2]}\n`);
    await expect(backtestCommand(commandHost, pipelineFile, { ...opts, input: "unlabelled.jsonl" })).rejects.toThrow("unlabelled.jsonl:2: label must be a class index");

    const cli = await evoflowOnce(["cl", "backtest", pipelineFile, "--data", data, "--input", "../flip.json"]);
    expect(cli.code).toBe(1);
    expect(cli.stderr).toMatch(/^error: --input: "\.\.\/flip\.json" leaves the data folder/m);
  }, 60_000);

  describe("on a real nats-server", () => {
    let server: NatsServer;
    let runtime: Runtime;

    beforeAll(async () => {
      server = await NatsServer.start();
      const registry = new FsModelRegistry(path.join(dir, "registry"));
      runtime = new Runtime({ dataDir: path.join(dir, "coord"), services: { registry }, transport: await NatsTransport.connect({ servers: [server.url], role: "coordinator" }) });
      mkdirSync(path.join(dir, "coord/flip"), { recursive: true });
      writeFileSync(path.join(dir, "coord/flip/stream.jsonl"), readFileSync(path.join(dir, "data/stream.jsonl")));
      const deployed = await runtime.deploy(pipeline({ kind: "jsonl", path: "stream.jsonl" }));
      await until("the generator to send the stream", () => (deployed.status().nodes.gen as { done?: boolean }).done || undefined);
      await deployed.idle();
    }, 60_000);
    afterAll(async () => {
      await runtime?.close();
      await server?.dispose();
    });

    it("reads the edge into the trainer back from the pipeline's JetStream stream", async () => {
      const { result } = await backtestCommand(commandHost, pipelineFile, { data: path.join(dir, "data"), nats: server.url, windows: "6", out: "from-nats" });
      expect(result.samples).toBe(COUNT);
      expectKnownChange(result, false);
      const doc = JSON.parse(readFileSync(path.join(dir, "data/backtest/from-nats.json"), "utf8")) as { source: Record<string, unknown> };
      expect(doc.source).toEqual({ kind: "jetstream", nats: server.url, pipeline: "flip", edge: "label_out-trainer_data" });
      await expect(backtestCommand(commandHost, pipelineFile, { data: path.join(dir, "data"), nats: server.url, windows: "6", edge: "nope" })).rejects.toThrow("pipeline flip on");
    }, 120_000);
  });
});
