/**
 * CPU-seconds per node in /metrics: nodes that burn a known amount of CPU (a loop until the
 * process's own CPU clock has advanced that far, so a preempted loop still burns it all) are
 * charged it within a tolerance, a node calling another over a sync edge is charged only its own
 * part, and the cost and energy per 1,000 calls follow from the configured price and watts;
 * with one call in a few timed, a node whose cost depends on its input is still charged its total.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { allNodes } from "../../nodes";
import { NodeTypes } from "../../runtime/node-types";
import { EnergyMeter } from "../../runtime/energy";
import { Runtime } from "../../runtime/runtime";
import { defineNode } from "../../sdk/contract";
import { port } from "../../sdk/ports";

/** Spins until this process has used `ms` more CPU. */
function burnCpu(ms: number): void {
  const from = process.cpuUsage();
  for (;;) {
    const used = process.cpuUsage(from);
    if ((used.user + used.system) / 1000 >= ms) return;
  }
}

const burner = defineNode({
  type: "test.burn",
  category: "transform",
  title: "Burn CPU",
  description: "Burns cpuMs of CPU, then passes the payload on (synchronously: a sync hop runs inside this call).",
  inputs: { in: port.any() },
  outputs: { out: port.sameAs("in") },
  config: z.object({ cpuMs: z.number() }),
  create: (_ctx, config) => ({
    onMessage(_port, message, emit) {
      burnCpu(config.cpuMs);
      return emit("out", message.payload).then(() => undefined);
    },
  }),
});

/** Its cost depends on its input: a sampler that always caught even messages would be wrong by 3×. */
const alternating = defineNode({
  type: "test.burn-alternating",
  category: "transform",
  title: "Burn CPU by parity",
  description: "Burns evenMs of CPU for a payload with an even i, oddMs for an odd one, then passes it on.",
  inputs: { in: port.any() },
  outputs: { out: port.sameAs("in") },
  config: z.object({ evenMs: z.number(), oddMs: z.number() }),
  create: (_ctx, config) => ({
    onMessage(_port, message, emit) {
      burnCpu((message.payload as { i: number }).i % 2 === 0 ? config.evenMs : config.oddMs);
      return emit("out", message.payload).then(() => undefined);
    },
  }),
});

const nodeTypes = new NodeTypes([...allNodes, burner, alternating]);

function metric(text: string, name: string, labels: string): number {
  const line = text.split("\n").find((l) => l.startsWith(`${name}{${labels}}`));
  if (!line) throw new Error(`no ${name}{${labels}} in:\n${text.split("\n").filter((l) => l.startsWith(name)).join("\n")}`);
  return Number(line.slice(line.lastIndexOf(" ") + 1));
}

let runtime: Runtime | undefined;
afterEach(async () => {
  await runtime?.close();
  runtime = undefined;
});

describe("CPU-seconds per node", () => {
  it("charges each node the CPU it burnt, a sync caller without its callee's, and prices it per 1,000 calls", async () => {
    const cost = new EnergyMeter({ energy: "model", wattsPerCore: 10, pricePerCoreHour: 3.6, currency: "EUR" });
    runtime = new Runtime({ nodeTypes, cost, dataDir: mkdtempSync(path.join(tmpdir(), "evoflow-cpu-")) });
    const running = await runtime.deploy({
      apiVersion: "evoflow/v1",
      name: "burn",
      nodes: [
        { id: "in", type: "io.http" },
        { id: "light", type: "test.burn", config: { cpuMs: 10 } },
        { id: "heavy", type: "test.burn", config: { cpuMs: 30 } },
        { id: "out", type: "io.sink" },
      ],
      edges: [
        { from: "in.out", to: "light.in", mode: "sync" },
        { from: "light.out", to: "heavy.in", mode: "sync" },
        { from: "heavy.out", to: "out.in", mode: "sync" },
      ],
    });
    const entry = running.entrypoints.get("burn")!;
    // One call first, left out of the figures checked: it also pays for compiling the path (it had been charged 40% more on a loaded machine).
    await entry.invoke({ i: -1 });
    const warm = await runtime.metrics.text();
    const calls = 10;
    for (let i = 0; i < calls; i++) await entry.invoke({ i });

    const text = await runtime.metrics.text();
    const total = (node: string) => metric(text, "evoflow_node_cpu_seconds_total", `pipeline="burn",node="${node}"`);
    const light = total("light") - metric(warm, "evoflow_node_cpu_seconds_total", 'pipeline="burn",node="light"');
    const heavy = total("heavy") - metric(warm, "evoflow_node_cpu_seconds_total", 'pipeline="burn",node="heavy"');
    // 10 × 10 ms and 10 × 30 ms: the light node calls the heavy one inside its own call, and is not charged for it.
    expect(light).toBeGreaterThan(0.1 * 0.8);
    expect(light).toBeLessThan(0.1 * 1.25);
    expect(heavy).toBeGreaterThan(0.3 * 0.8);
    expect(heavy).toBeLessThan(0.3 * 1.25);
    expect(metric(text, "evoflow_node_cpu_seconds_total", 'pipeline="burn",node="out"')).toBeLessThan(0.005);

    // Per 1,000 calls: CPU-seconds, × 10 W, × 3.6 EUR per core-hour = 0.001 EUR per CPU-second.
    const heavyPer1000 = metric(text, "evoflow_node_cpu_seconds_per_1000_calls", 'pipeline="burn",node="heavy"');
    expect(heavyPer1000).toBeCloseTo((total("heavy") / (calls + 1)) * 1000, 6);
    expect(metric(text, "evoflow_node_energy_joules_per_1000_calls", 'pipeline="burn",node="heavy",source="model"')).toBeCloseTo(heavyPer1000 * 10, 4);
    expect(metric(text, "evoflow_node_cost_per_1000_calls", 'pipeline="burn",node="heavy",currency="EUR"')).toBeCloseTo(heavyPer1000 * 0.001, 6);
    expect(metric(text, "evoflow_energy_joules_per_cpu_second", 'source="model"')).toBe(10);
    expect(metric(text, "evoflow_price_per_core_hour", 'currency="EUR"')).toBe(3.6);
    // The same figure in the pipeline's status, for the editor's dashboard.
    expect(running.status().nodes.heavy.cpuSeconds).toBeCloseTo(total("heavy"), 2);
  });

  it("a cheap transform beside a burning node is charged a small fraction of what that node is", async () => {
    runtime = new Runtime({ nodeTypes, dataDir: mkdtempSync(path.join(tmpdir(), "evoflow-cpu-")) });
    const running = await runtime.deploy({
      apiVersion: "evoflow/v1",
      name: "cheap",
      nodes: [
        { id: "in", type: "io.http" },
        { id: "set", type: "transform.set", config: { set: { k: 1 } } },
        { id: "burn", type: "test.burn", config: { cpuMs: 2 } },
        { id: "out", type: "io.sink" },
      ],
      edges: [
        { from: "in.out", to: "set.in", mode: "sync" },
        { from: "set.out", to: "burn.in", mode: "sync" },
        { from: "burn.out", to: "out.in", mode: "sync" },
      ],
    });
    const entry = running.entrypoints.get("cheap")!;
    for (let i = 0; i < 50; i++) await entry.invoke({ i });
    const text = await runtime.metrics.text();
    const set = metric(text, "evoflow_node_cpu_seconds_total", 'pipeline="cheap",node="set"');
    const burn = metric(text, "evoflow_node_cpu_seconds_total", 'pipeline="cheap",node="burn"');
    expect(burn).toBeGreaterThan(0.1 * 0.8);
    expect(burn).toBeLessThan(0.1 * 1.25);
    expect(set).toBeGreaterThan(0);
    expect(set).toBeLessThan(burn / 10);
  });

  it("sampling one call in a few: what each node burnt, from its timed calls × its calls", async () => {
    const cost = new EnergyMeter({ energy: "model", nodeCpuSampleEvery: 8 });
    runtime = new Runtime({ nodeTypes, cost, dataDir: mkdtempSync(path.join(tmpdir(), "evoflow-cpu-")) });
    const running = await runtime.deploy({
      apiVersion: "evoflow/v1",
      name: "sampled",
      nodes: [
        { id: "in", type: "io.http" },
        { id: "set", type: "transform.set", config: { set: { k: 1 } } },
        { id: "burn", type: "test.burn-alternating", config: { evenMs: 0.05, oddMs: 0.25 } },
        { id: "out", type: "io.sink" },
      ],
      edges: [
        { from: "in.out", to: "set.in", mode: "sync" },
        { from: "set.out", to: "burn.in", mode: "sync" },
        { from: "burn.out", to: "out.in", mode: "async" },
      ],
    });
    const entry = running.entrypoints.get("sampled")!;
    // 2,000 calls: the first 64 timed each, then ~1 in 8, so ~300 timed calls carry the estimate.
    const calls = 2000;
    for (let i = 0; i < calls; i++) await entry.invoke({ i });
    await running.idle();
    const burnt = (calls / 2) * (0.05 + 0.25) / 1000;
    const nodes = running.status().nodes;
    expect(nodes.burn.cpuSeconds).toBeGreaterThan(burnt * 0.8);
    expect(nodes.burn.cpuSeconds).toBeLessThan(burnt * 1.25);
    expect(nodes.set.cpuSeconds as number).toBeLessThan(burnt / 10);
    expect(nodes.out.cpuSeconds as number).toBeGreaterThan(0);
    expect(nodes.out.cpuSeconds as number).toBeLessThan(burnt / 10);
  });

  it("cost.nodeCpu false: the engine charges nothing", async () => {
    runtime = new Runtime({ nodeTypes, cost: new EnergyMeter({ energy: "model", nodeCpu: false }), dataDir: mkdtempSync(path.join(tmpdir(), "evoflow-cpu-")) });
    const running = await runtime.deploy({
      apiVersion: "evoflow/v1",
      name: "off",
      nodes: [
        { id: "in", type: "io.http" },
        { id: "burn", type: "test.burn", config: { cpuMs: 2 } },
      ],
      edges: [{ from: "in.out", to: "burn.in", mode: "sync" }],
    });
    for (let i = 0; i < 5; i++) await running.entrypoints.get("off")!.invoke({ i });
    expect(running.status().nodes.burn.cpuSeconds).toBe(0);
    expect(metric(await runtime.metrics.text(), "evoflow_node_cpu_seconds_total", 'pipeline="off",node="burn"')).toBe(0);
  });
});
