/**
 * Prometheus metrics (`/metrics`). Everything on the hot path is a plain number
 * on each node's stats object, read by prom-client at scrape time: prom-client's
 * own Histogram hashes its labels on every observe, which cost more than a whole
 * message hop here, so node latency keeps its buckets itself and is exported
 * through a custom collector in prom-client's registry.
 *
 * Names: prom-client's default process and Node.js metrics keep their standard names
 * (`process_cpu_seconds_total`, `nodejs_heap_size_used_bytes`, …), so existing Grafana
 * dashboards for Node.js services work as they are; Evoflow's own are under `evoflow_`.
 */
import { Counter, Gauge, Registry, collectDefaultMetrics, type Metric } from "prom-client";
import type { MetricsService, NodeCounter } from "../sdk/metrics";

const LATENCY_BUCKETS = [0.00001, 0.00005, 0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5];

export class NodeStats {
  in = 0;
  out = 0;
  errors = 0;
  /** Non-cumulative counts per bucket; the last slot is +Inf. */
  readonly latencyCounts = new Float64Array(LATENCY_BUCKETS.length + 1);
  latencySum = 0;

  observeLatency(seconds: number): void {
    let i = 0;
    while (i < LATENCY_BUCKETS.length && seconds > LATENCY_BUCKETS[i]) i++;
    this.latencyCounts[i]++;
    this.latencySum += seconds;
  }
}

export interface MetricsSource {
  pipeline: string;
  nodeStats(): Iterable<[string, NodeStats]>;
  edgeStats(): Iterable<[string, { depth: number; dropped: number }]>;
  deadLetterCount(): number;
  /** Sync requests being handled now (see runtime/overload.ts). */
  requestsInFlight?(): number;
}

export class Metrics {
  readonly registry = new Registry();
  private readonly sources = new Set<MetricsSource>();

  constructor() {
    collectDefaultMetrics({ register: this.registry });
    const sources = this.sources;
    const counterFrom = (name: string, help: string, pick: (s: NodeStats) => number) =>
      new Counter({
        name, help, labelNames: ["pipeline", "node"], registers: [this.registry],
        collect() {
          this.reset();
          for (const src of sources) for (const [node, s] of src.nodeStats()) this.inc({ pipeline: src.pipeline, node }, pick(s));
        },
      });
    counterFrom("evoflow_node_messages_in_total", "Messages handled by a node", (s) => s.in);
    counterFrom("evoflow_node_messages_out_total", "Messages emitted by a node", (s) => s.out);
    counterFrom("evoflow_node_errors_total", "Messages a node failed on (sent to the dead-letter stream)", (s) => s.errors);
    new Gauge({
      name: "evoflow_edge_queue_depth", help: "Messages waiting on an async edge", labelNames: ["pipeline", "edge"], registers: [this.registry],
      collect() {
        this.reset();
        for (const src of sources) for (const [edge, s] of src.edgeStats()) this.set({ pipeline: src.pipeline, edge }, s.depth);
      },
    });
    new Counter({
      name: "evoflow_edge_dropped_total", help: "Messages dropped by an async edge's drop-oldest policy", labelNames: ["pipeline", "edge"], registers: [this.registry],
      collect() {
        this.reset();
        for (const src of sources) for (const [edge, s] of src.edgeStats()) this.inc({ pipeline: src.pipeline, edge }, s.dropped);
      },
    });
    new Counter({
      name: "evoflow_dead_letters_total", help: "Messages sent to a pipeline's dead-letter stream", labelNames: ["pipeline"], registers: [this.registry],
      collect() {
        this.reset();
        for (const src of sources) this.inc({ pipeline: src.pipeline }, src.deadLetterCount());
      },
    });
    new Gauge({
      name: "evoflow_requests_in_flight", help: "Sync requests a pipeline is handling now (at most its settings.maxInFlight)", labelNames: ["pipeline"], registers: [this.registry],
      collect() {
        this.reset();
        for (const src of sources) if (src.requestsInFlight) this.set({ pipeline: src.pipeline }, src.requestsInFlight());
      },
    });
    this.shedCounter = new Counter({
      name: "evoflow_requests_shed_total",
      help: "Sync requests refused because the pipeline was overloaded (reason: in-flight limit, or a full async edge with block overflow)",
      labelNames: ["pipeline", "reason"],
      registers: [this.registry],
    });
    const latency = {
      name: "evoflow_node_latency_seconds",
      help: "Time a node takes to handle a message, sync downstream included",
      type: "histogram",
      aggregator: "sum",
      async get() {
        const values: { labels: Record<string, string | number>; value: number; metricName: string }[] = [];
        for (const src of sources)
          for (const [node, s] of src.nodeStats()) {
            const labels = { pipeline: src.pipeline, node };
            let cumulative = 0;
            LATENCY_BUCKETS.forEach((le, i) => {
              cumulative += s.latencyCounts[i];
              values.push({ labels: { le, ...labels }, value: cumulative, metricName: `${latency.name}_bucket` });
            });
            cumulative += s.latencyCounts[LATENCY_BUCKETS.length];
            values.push({ labels: { le: "+Inf", ...labels }, value: cumulative, metricName: `${latency.name}_bucket` });
            values.push({ labels, value: s.latencySum, metricName: `${latency.name}_sum` });
            values.push({ labels, value: cumulative, metricName: `${latency.name}_count` });
          }
        return { name: latency.name, help: latency.help, type: latency.type, aggregator: latency.aggregator, values };
      },
    };
    this.registry.registerMetric(latency as unknown as Metric);
  }

  private readonly shedCounter: Counter<"pipeline" | "reason">;
  private readonly nodeCounters = new Map<string, NodeCounter>();

  /** The `metrics` service (sdk/metrics.ts): nodes' own counters, in this registry beside the runtime's. */
  readonly service: MetricsService = {
    counter: (name, help) => {
      if (!/^[a-z][a-z0-9]*(_[a-z0-9]+)*$/.test(name) || name.endsWith("_total")) throw new Error(`metric name "${name}": lower-case words joined by _, without _total (it is added)`);
      const full = `evoflow_${name}_total`;
      const known = this.nodeCounters.get(full);
      if (known) return known;
      if (this.registry.getSingleMetric(full)) throw new Error(`metric name "${name}": ${full} is one of the runtime's own`);
      const counter = new Counter({ name: full, help, labelNames: ["pipeline", "node"], registers: [this.registry] });
      const made: NodeCounter = { inc: (labels, by = 1) => counter.inc(labels, by) };
      this.nodeCounters.set(full, made);
      return made;
    },
  };

  /** A sync request refused by load shedding (not on the hot path: only refusals count). */
  shed(pipeline: string, reason: string): void {
    this.shedCounter.inc({ pipeline, reason });
  }

  add(source: MetricsSource): void {
    this.sources.add(source);
  }

  remove(source: MetricsSource): void {
    this.sources.delete(source);
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  contentType(): string {
    return this.registry.contentType;
  }
}
