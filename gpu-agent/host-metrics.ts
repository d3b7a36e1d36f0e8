/** The model host's Prometheus metrics, under `evoflow_agent_`, and its models' CPU and cost under `evoflow_model_`. */
import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import { costSettingsSchema, per1000, type CostModel, type CostPer1000 } from "../sdk/cost";
import type { Entry } from "./host-types";

/** What the gauges read from the host when /metrics is scraped. */
export interface HostView {
  entries(): Iterable<Entry>;
  assigned(): number;
  usedBytes(): number;
  /** Busy share of the utilisation window (BusyClock). */
  utilisation(): number;
  readonly budgetBytes: number;
  cost?: CostModel;
}

/** Without a process's CostModel: the default settings and their declared watts per core. */
function defaultCost(): CostModel {
  const settings = costSettingsSchema.parse({});
  return { settings, rate: () => ({ source: "model", joulesPerCpuSecond: settings.wattsPerCore }) };
}

/** Per model version that has served: its figures per 1,000 requests since it was assigned. */
function perVersion(host: HostView, cost: CostModel, each: (labels: { model: string; version: string }, figures: CostPer1000) => void): void {
  const rate = cost.rate();
  for (const e of host.entries()) {
    const figures = per1000(e.cpuSeconds, e.requests, cost.settings, rate);
    if (figures) each({ model: e.name, version: String(e.version) }, figures);
  }
}

/** Registered in no registry yet: `registerHostMetrics` adds them to the one /metrics serves. */
export function hostMetrics(host: HostView) {
  const cost = host.cost ?? defaultCost();
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
    utilisation: new Gauge({
      name: "evoflow_agent_utilisation", help: "Share of the last window (5 s by default) with a request in flight, 0-1", registers: [],
      collect() { this.set(host.utilisation()); },
    }),
    budgetBytes: new Gauge({
      name: "evoflow_agent_memory_budget_bytes", help: "Memory budget of the agent", registers: [],
      collect() { this.set(host.budgetBytes); },
    }),
    modelCpu: new Counter({
      name: "evoflow_model_cpu_seconds_total", help: "CPU seconds of a model version's runs on this machine (process CPU bracketing each run, onnx/run-cpu.ts)", labelNames: ["model", "version"], registers: [],
      collect() {
        this.reset();
        for (const e of host.entries()) if (e.requests > 0) this.inc({ model: e.name, version: String(e.version) }, e.cpuSeconds);
      },
    }),
    modelRequests: new Counter({
      name: "evoflow_model_inferences_total", help: "Requests a model version has served here (one run each, whatever its batch)", labelNames: ["model", "version"], registers: [],
      collect() {
        this.reset();
        for (const e of host.entries()) if (e.requests > 0) this.inc({ model: e.name, version: String(e.version) }, e.requests);
      },
    }),
    modelCost: new Gauge({
      name: "evoflow_model_cost_per_1000_inferences", help: "Cost of 1,000 requests at the configured price per core-hour, since the version was assigned", labelNames: ["model", "version", "currency"], registers: [],
      collect() {
        this.reset();
        perVersion(host, cost, (labels, f) => this.set({ ...labels, currency: f.currency }, f.cost));
      },
    }),
    modelEnergy: new Gauge({
      name: "evoflow_model_energy_joules_per_1000_inferences", help: "Energy of 1,000 requests (source: rapl or the declared watts per core), since the version was assigned", labelNames: ["model", "version", "source"], registers: [],
      collect() {
        this.reset();
        perVersion(host, cost, (labels, f) => this.set({ ...labels, source: f.energySource }, f.joules));
      },
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
