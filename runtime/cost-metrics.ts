/**
 * /metrics figures of CPU, energy and cost per node (runtime/cpu-accounting.ts measures the CPU):
 * the counter `evoflow_node_cpu_seconds_total`, and as gauges the averages since the pipeline
 * started, per 1,000 calls, priced with the process's CostModel. For a recent window, divide
 * `rate()`s of the counters in PromQL instead; the rate and the price are exported for that.
 */
import { Counter, Gauge, type Registry } from "prom-client";
import { per1000, type CostModel } from "../sdk/cost";
import type { CpuAccount } from "./cpu-accounting";

/** What this reads of runtime/metrics.ts's sources (a structural type: that module imports this one). */
interface CpuSource {
  pipeline: string;
  nodeStats(): Iterable<[string, { in: number; cpu: CpuAccount }]>;
}

export function registerCostMetrics(registry: Registry, sources: ReadonlySet<CpuSource>, cost: CostModel): void {
  const registers = [registry];
  new Counter({
    name: "evoflow_node_cpu_seconds_total",
    help: "CPU seconds charged to a node: its synchronous segments in this process (sampled CPU/wall ratio), plus what its workers in other processes reported",
    labelNames: ["pipeline", "node"],
    registers,
    collect() {
      this.reset();
      for (const src of sources) for (const [node, s] of src.nodeStats()) this.inc({ pipeline: src.pipeline, node }, s.cpu.cpuSeconds);
    },
  });
  new Gauge({
    name: "evoflow_energy_joules_per_cpu_second",
    help: "Machine energy per CPU-second of work: from RAPL (source=rapl) or the declared watts per core (source=model)",
    labelNames: ["source"],
    registers,
    collect() {
      this.reset();
      const rate = cost.rate();
      this.set({ source: rate.source }, rate.joulesPerCpuSecond);
    },
  });
  new Gauge({
    name: "evoflow_price_per_core_hour", help: "The configured price of a core-hour (settings cost.pricePerCoreHour)", labelNames: ["currency"], registers,
    collect() {
      this.reset();
      this.set({ currency: cost.settings.currency }, cost.settings.pricePerCoreHour);
    },
  });
  const perCall = (name: string, help: string, labelNames: string[], pick: (f: NonNullable<ReturnType<typeof per1000>>) => number, extra: (f: NonNullable<ReturnType<typeof per1000>>) => Record<string, string>) =>
    new Gauge({
      name, help, labelNames: ["pipeline", "node", ...labelNames], registers,
      collect() {
        this.reset();
        const rate = cost.rate();
        for (const src of sources)
          for (const [node, s] of src.nodeStats()) {
            const figures = per1000(s.cpu.cpuSeconds, s.in, cost.settings, rate);
            if (figures) this.set({ pipeline: src.pipeline, node, ...extra(figures) }, pick(figures));
          }
      },
    });
  perCall("evoflow_node_cpu_seconds_per_1000_calls", "CPU seconds per 1,000 messages handled, since the pipeline started", [], (f) => f.cpuSeconds, () => ({}));
  perCall("evoflow_node_energy_joules_per_1000_calls", "Energy per 1,000 messages handled, since the pipeline started", ["source"], (f) => f.joules, (f) => ({ source: f.energySource }));
  perCall("evoflow_node_cost_per_1000_calls", "Cost per 1,000 messages handled at the configured price per core-hour, since the pipeline started", ["currency"], (f) => f.cost, (f) => ({ currency: f.currency }));
}
