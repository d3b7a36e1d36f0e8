/** The model host's Prometheus metrics, under `evoflow_agent_`. */
import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import type { Entry } from "./host-types";

/** What the gauges read from the host when /metrics is scraped. */
export interface HostView {
  entries(): Iterable<Entry>;
  assigned(): number;
  usedBytes(): number;
  readonly budgetBytes: number;
}

/** Registered in no registry yet: `registerHostMetrics` adds them to the one /metrics serves. */
export function hostMetrics(host: HostView) {
  return {
    loads: new Counter({ name: "evoflow_agent_model_loads_total", help: "Models loaded into the backend", registers: [] }),
    evictions: new Counter({ name: "evoflow_agent_model_evictions_total", help: "Idle models evicted to make room", registers: [] }),
    loadFailures: new Counter({ name: "evoflow_agent_model_load_failures_total", help: "Loads that failed", registers: [] }),
    loadSeconds: new Histogram({
      name: "evoflow_agent_model_load_seconds", help: "Time to make a model resident (backend load)", registers: [],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    }),
    resident: new Gauge({
      name: "evoflow_agent_resident_models", help: "Models resident in the backend", registers: [],
      collect() { this.set([...host.entries()].filter((e) => e.state === "resident").length); },
    }),
    assigned: new Gauge({
      name: "evoflow_agent_assigned_models", help: "Models assigned to the agent (resident or not)", registers: [],
      collect() { this.set(host.assigned()); },
    }),
    usedBytes: new Gauge({
      name: "evoflow_agent_memory_used_bytes", help: "Memory of resident and loading models", registers: [],
      collect() { this.set(host.usedBytes()); },
    }),
    budgetBytes: new Gauge({
      name: "evoflow_agent_memory_budget_bytes", help: "Memory budget of the agent", registers: [],
      collect() { this.set(host.budgetBytes); },
    }),
    inFlight: new Gauge({
      name: "evoflow_agent_requests_in_flight", help: "Requests being served, per model", labelNames: ["model"], registers: [],
      collect() {
        this.reset();
        for (const e of host.entries()) if (e.inFlight > 0) this.set({ model: e.key }, e.inFlight);
      },
    }),
  };
}

export type HostMetrics = ReturnType<typeof hostMetrics>;

/** Adds the host's metrics to a prom-client registry (the one `/metrics` serves). */
export function registerHostMetrics(metrics: HostMetrics, registry: Registry): void {
  for (const metric of Object.values(metrics)) {
    if (!registry.getSingleMetric((metric as unknown as { name: string }).name)) registry.registerMetric(metric);
  }
}
