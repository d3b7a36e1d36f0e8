/**
 * Prometheus metrics (`/metrics`). Hot-path counters are plain numbers on each
 * node's stats object, read by prom-client at scrape time; only the latency
 * histogram is observed per message.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

export interface NodeStats {
  in: number;
  out: number;
  errors: number;
  observeLatency(seconds: number): void;
}

export interface MetricsSource {
  pipeline: string;
  nodeStats(): Iterable<[string, NodeStats]>;
  edgeStats(): Iterable<[string, { depth: number; dropped: number }]>;
  deadLetterCount(): number;
}

export class Metrics {
  readonly registry = new Registry();
  private readonly sources = new Set<MetricsSource>();
  private readonly latency: Histogram<"pipeline" | "node">;

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: "evoflow_process_" });
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
    this.latency = new Histogram({
      name: "evoflow_node_latency_seconds", help: "Time a node takes to handle a message, sync downstream included",
      labelNames: ["pipeline", "node"], registers: [this.registry],
      buckets: [0.00001, 0.00005, 0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
    });
  }

  nodeStats(pipeline: string, node: string): NodeStats {
    const child = this.latency.labels({ pipeline, node });
    return { in: 0, out: 0, errors: 0, observeLatency: (s) => child.observe(s) };
  }

  add(source: MetricsSource): void {
    this.sources.add(source);
  }

  remove(source: MetricsSource): void {
    this.sources.delete(source);
    for (const [node] of source.nodeStats()) this.latency.remove({ pipeline: source.pipeline, node });
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  contentType(): string {
    return this.registry.contentType;
  }
}
