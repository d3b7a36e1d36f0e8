/**
 * The data side of the loop: label join (late, missing, duplicate and early
 * labels), reservoir and class-balanced rehearsal sampling, the mixer, and the
 * collector node in a real pipeline fed through its HTTP entry points, and on its own
 * (evoflow/testing).
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { DatasetSnapshot, Sample } from "../../nodes/sampler/dataset";
import { LabelJoin } from "../../nodes/sampler/label-join";
import { mixTrainingSet } from "../../nodes/sampler/mix";
import { RehearsalBuffer } from "../../nodes/sampler/rehearsal";
import { Reservoir } from "../../nodes/sampler/reservoir";
import { Runtime } from "../../runtime/runtime";
import { loadNode } from "../../testing";
import { builtin } from "../nodes/builtin";
import { probe, testNodeTypes } from "../runtime/helpers";

describe("label join", () => {
  it("joins a label that arrives later, within the window", () => {
    const j = new LabelJoin<string>({ windowMs: 1000 });
    expect(j.request("r1", "input-1", 0)).toEqual({ kind: "held" });
    expect(j.label("r1", 3, 900)).toEqual({ kind: "joined", requestId: "r1", request: "input-1", label: 3, requestedAt: 0, labelledAt: 900 });
    expect(j.counters).toMatchObject({ requests: 1, labels: 1, joined: 1, missing: 0 });
  });

  it("counts a request whose window passed as missing, and its label then as late", () => {
    const j = new LabelJoin<string>({ windowMs: 1000 });
    j.request("r1", "a", 0);
    j.request("r2", "b", 500);
    expect(j.label("r1", "cat", 1001)).toEqual({ kind: "late" });
    expect(j.counters).toMatchObject({ missing: 1, late: 1, joined: 0 });
    expect(j.label("r2", "dog", 1400).kind).toBe("joined"); // r2's window runs to 1500
    j.request("r3", "c", 1500);
    j.expire(2600);
    expect(j.counters.missing).toBe(2);
    expect(j.waiting).toBe(0);
  });

  it("keeps the first of duplicate labels and counts the rest", () => {
    const j = new LabelJoin<string>({ windowMs: 1000 });
    j.request("r1", "a", 0);
    expect(j.label("r1", 1, 10).kind).toBe("joined");
    expect(j.label("r1", 2, 20)).toEqual({ kind: "duplicate" });
    expect(j.label("r1", 1, 30)).toEqual({ kind: "duplicate" });
    expect(j.counters).toMatchObject({ joined: 1, duplicate: 2 });
  });

  it("holds a label that comes before its request, and expires it as orphaned when none comes", () => {
    const j = new LabelJoin<string>({ windowMs: 1000 });
    expect(j.label("r1", "cat", 0)).toEqual({ kind: "held" });
    expect(j.label("r1", "dog", 5)).toEqual({ kind: "duplicate" });
    expect(j.request("r1", "a", 100)).toMatchObject({ kind: "joined", label: "cat", request: "a" });
    j.label("r9", "cat", 200);
    j.expire(1201);
    expect(j.counters).toMatchObject({ early: 2, joined: 1, orphaned: 1, duplicate: 1 });
  });

  it("bounds what it holds: beyond maxPending the oldest request expires", () => {
    const j = new LabelJoin<number>({ windowMs: 1e9, maxPending: 3 });
    for (let i = 0; i < 5; i++) j.request(`r${i}`, i, i);
    expect(j.waiting).toBe(3);
    expect(j.counters.missing).toBe(2);
    expect(j.label("r0", 1, 10)).toEqual({ kind: "late" });
  });
});

describe("samplers", () => {
  it("reservoir keeps each item with probability size/seen, reproducibly", () => {
    const hits = new Array(100).fill(0);
    for (let seed = 0; seed < 400; seed++) {
      const r = new Reservoir<number>(10, seed);
      for (let i = 0; i < 100; i++) r.add(i);
      for (const i of r.items) hits[i]++;
    }
    // Each of 100 items is kept with p = 0.1 in 400 runs: 40 expected, sd 6.
    for (const h of hits) expect(Math.abs(h - 40)).toBeLessThan(25);
    const a = new Reservoir<number>(10, 5);
    const b = new Reservoir<number>(10, 5);
    for (let i = 0; i < 1000; i++) {
      a.add(i);
      b.add(i);
    }
    expect(a.items).toEqual(b.items);
    expect(a.seen).toBe(1000);
  });

  it("rehearsal buffer shares its memory equally among classes, also when a class is rare", () => {
    const buffer = new RehearsalBuffer(100, 3);
    let id = 0;
    const add = (y: number, n: number) => {
      for (let i = 0; i < n; i++) buffer.add({ id: String(id++), x: i, y });
    };
    add(0, 1000);
    expect(buffer.items).toHaveLength(100);
    add(1, 500);
    add(2, 20); // rare class: keeps all 20, the rest goes to the others
    add(0, 100);
    add(1, 100);
    const counts = buffer.items.reduce<Record<string, number>>((c, s) => ({ ...c, [s.y]: (c[s.y] ?? 0) + 1 }), {});
    expect(buffer.quota()).toEqual({ "0": 34, "1": 33, "2": 33 });
    expect(counts).toEqual({ "0": 34, "1": 33, "2": 20 });
    // Items of a class are a sample of that class only, each id once.
    expect(new Set(buffer.items.map((s) => s.id)).size).toBe(buffer.items.length);
    const again = new RehearsalBuffer(100, 3);
    id = 0;
    for (const [y, n] of [[0, 1000], [1, 500], [2, 20], [0, 100], [1, 100]]) for (let i = 0; i < n; i++) again.add({ id: String(id++), x: i, y });
    expect(again.items).toEqual(buffer.items);
  });

  it("mixer takes the set ratio from new data and memory, fills from the other source when one is short, and is reproducible", () => {
    const make = (prefix: string, n: number, y: number): Sample[] => Array.from({ length: n }, (_, i) => ({ id: `${prefix}${i}`, x: i, y }));
    const fresh = make("n", 300, 1);
    const memory = make("m", 300, 0);
    const mixed = mixTrainingSet(fresh, memory, { size: 200, ratio: 0.25, seed: 9 });
    expect(mixed).toMatchObject({ fromNew: 50, fromMemory: 150 });
    expect(mixed.items.filter((s) => s.id.startsWith("n"))).toHaveLength(50);
    expect(new Set(mixed.items.map((s) => s.id)).size).toBe(200);
    expect(mixTrainingSet(fresh, memory, { size: 200, ratio: 0.25, seed: 9 }).items).toEqual(mixed.items);
    expect(mixTrainingSet(fresh.slice(0, 10), memory, { size: 200, ratio: 0.5, seed: 1 })).toMatchObject({ fromNew: 10, fromMemory: 190 });
    // A sample in both sources is taken once.
    expect(mixTrainingSet(fresh.slice(0, 5), fresh.slice(0, 5), { size: 10, ratio: 0.5, seed: 1 }).items).toHaveLength(5);
  });
});

describe("collector and samplers in a pipeline", () => {
  let runtime: Runtime | undefined;
  afterEach(async () => {
    await runtime?.close();
  });

  it("joins labels by request id, counts duplicates and early labels, and serves snapshots naming the messages", async () => {
    runtime = new Runtime({ nodeTypes: testNodeTypes, dataDir: mkdtempSync(join(tmpdir(), "evoflow-collector-")) });
    const joined = probe("joined");
    const snapshots = probe("snapshots");
    const memory = probe("memory");
    const running = await runtime.deploy({
      apiVersion: "evoflow/v1",
      name: "collect",
      nodes: [
        { id: "serve", type: "io.http", config: { name: "serve" } },
        { id: "labels", type: "io.http", config: { name: "labels" } },
        { id: "snap", type: "io.http", config: { name: "snap" } },
        { id: "collector", type: "sampler.collector", config: { requestId: "payload.requestId", x: "payload.x", prediction: "payload.prediction" } },
        { id: "memory", type: "sampler.rehearsal", config: { memorySize: 4, seed: 1 } },
        { id: "joined", type: "test.recorder", config: { key: "joined" } },
        { id: "snapshots", type: "test.recorder", config: { key: "snapshots" } },
        { id: "memorySnapshots", type: "test.recorder", config: { key: "memory" } },
      ],
      edges: [
        { from: "serve.out", to: "collector.in" },
        { from: "labels.out", to: "collector.label" },
        { from: "snap.out", to: "collector.snapshot" },
        { from: "snap.out", to: "memory.snapshot" },
        { from: "collector.out", to: "joined.in", mode: "async" },
        { from: "collector.out", to: "memory.in", mode: "async" },
        { from: "collector.snapshot", to: "snapshots.in", mode: "async" },
        { from: "memory.snapshot", to: "memorySnapshots.in", mode: "async" },
      ],
    });
    const call = (entry: string, payload: unknown) => running.entrypoints.get(entry)!.invoke(payload);
    for (let i = 0; i < 6; i++) await call("serve", { requestId: `r${i}`, x: [i, i], prediction: i % 2 });
    await call("labels", { requestId: "r7", label: "b" }); // early: its request comes after
    for (const i of [0, 1, 2, 3]) await call("labels", { requestId: `r${i}`, label: i < 2 ? "a" : "b" });
    await call("labels", { requestId: "r1", label: "b" }); // duplicate
    await call("serve", { requestId: "r7", x: [7, 7], prediction: 1 });
    await running.idle();
    await call("snap", {});
    await running.idle();

    expect(joined.received.map((m) => m.payload)).toEqual([
      { x: [0, 0], y: "a", prediction: 0, requestId: "r0", messageId: expect.any(String), seq: 0, from: "serve.out" },
      { x: [1, 1], y: "a", prediction: 1, requestId: "r1", messageId: expect.any(String), seq: 1, from: "serve.out" },
      { x: [2, 2], y: "b", prediction: 0, requestId: "r2", messageId: expect.any(String), seq: 2, from: "serve.out" },
      { x: [3, 3], y: "b", prediction: 1, requestId: "r3", messageId: expect.any(String), seq: 3, from: "serve.out" },
      { x: [7, 7], y: "b", prediction: 1, requestId: "r7", messageId: expect.any(String), seq: 4, from: "serve.out" },
    ]);
    // A label joined later names both the served message and the label message as parents.
    expect(joined.received[0].parents).toHaveLength(2);

    const snap = snapshots.received[0].payload as DatasetSnapshot;
    expect(snap).toMatchObject({
      kind: "dataset",
      source: { pipeline: "collect", node: "collector", sampler: "collector" },
      size: 5,
      classes: { a: 2, b: 3 },
      newClasses: ["a", "b"],
      range: { first: 0, last: 4 },
      streams: ["serve.out"],
      stats: { joined: 5, duplicate: 1, early: 1, waiting: 2, requests: 7, labels: 6 },
    });
    expect(snap.messages).toEqual(joined.received.map((m) => (m.payload as { messageId: string }).messageId));

    const mem = memory.received[0].payload as DatasetSnapshot;
    expect(mem).toMatchObject({ size: 4, classes: { a: 2, b: 2 }, source: { sampler: "rehearsal", seed: 1 } });
  });
  it("keeps the last `capacity` joined samples and counts the ones it dropped", async () => {
    const collector = await loadNode(builtin("sampler.collector"), { config: { requestId: "payload.requestId", capacity: 3, includeItems: false } });
    try {
      for (let i = 0; i < 5; i++) {
        await collector.send("in", { requestId: i, x: i });
        await collector.send("label", { requestId: i, label: i });
      }
      await collector.send("snapshot", {});
      const snap = (await collector.next<DatasetSnapshot>("snapshot")).payload;
      expect(snap).toMatchObject({ size: 3, range: { first: 2, last: 4 }, classes: { "2": 1, "3": 1, "4": 1 }, stats: { joined: 5, dropped: 2 } });
      expect(snap.items).toBeUndefined();
      expect(snap.messages).toHaveLength(3);
    } finally {
      await collector.stop();
    }
  });

  it("runs the loop: a volume trigger asks memory for a snapshot, the mixer builds a training set, then memory learns the new samples", async () => {
    runtime = new Runtime({ nodeTypes: testNodeTypes, dataDir: mkdtempSync(join(tmpdir(), "evoflow-loop-")) });
    const datasets = probe("datasets");
    const running = await runtime.deploy({
      apiVersion: "evoflow/v1",
      name: "loop",
      nodes: [
        { id: "serve", type: "io.http", config: { name: "serve" } },
        { id: "labels", type: "io.http", config: { name: "labels" } },
        { id: "collector", type: "sampler.collector", config: { requestId: "payload.requestId", x: "payload.x" } },
        { id: "memory", type: "sampler.rehearsal", config: { memorySize: 6, seed: 2 } },
        { id: "mixer", type: "sampler.mixer", config: { size: 8, ratio: 0.5, seed: 4 } },
        { id: "trigger", type: "control.trigger", config: { cooldownMs: 0, drift: false, volume: { samples: 10 } } },
        { id: "datasets", type: "test.recorder", config: { key: "datasets" } },
      ],
      edges: [
        { from: "serve.out", to: "collector.in" },
        { from: "labels.out", to: "collector.label" },
        { from: "collector.out", to: "mixer.new", mode: "async" },
        { from: "collector.out", to: "trigger.samples", mode: "async" },
        { from: "trigger.out", to: "memory.snapshot", mode: "async" },
        { from: "memory.snapshot", to: "mixer.memory", mode: "async" },
        { from: "mixer.dataset", to: "datasets.in", mode: "async" },
        { from: "mixer.consumed", to: "memory.in", mode: "async" },
      ],
    });
    const call = (entry: string, payload: unknown) => running.entrypoints.get(entry)!.invoke(payload);
    for (let i = 0; i < 20; i++) {
      await call("serve", { requestId: `r${i}`, x: [i] });
      await call("labels", { requestId: `r${i}`, label: i % 3 });
      await running.idle(); // each sample reaches the mixer before the trigger fires
    }
    await running.idle();
    const [first, second] = datasets.received.map((m) => m.payload as DatasetSnapshot);
    expect(datasets.received).toHaveLength(2);
    // First training: memory is empty, so all 8 come from the 10 new samples.
    expect(first).toMatchObject({ kind: "dataset", size: 8, source: { sampler: "mixer", seed: 4 }, streams: ["serve.out"], stats: { fromNew: 8, fromMemory: 0 } });
    expect(first.range!.last).toBeLessThanOrEqual(9);
    // Second: half from samples 10–19, half from memory, which holds 6 of samples 0–9, 2 per class.
    expect(second).toMatchObject({ size: 8, source: { seed: 5 }, stats: { fromNew: 4, fromMemory: 4 } });
    const seqs = second.items!.map((s) => s.seq!);
    expect(seqs.filter((s) => s >= 10)).toHaveLength(4);
    expect(seqs.filter((s) => s < 10)).toHaveLength(4);
    expect(running.status().nodes.memory).toMatchObject({ size: 6, quota: { "0": 2, "1": 2, "2": 2 } });
  });
});
