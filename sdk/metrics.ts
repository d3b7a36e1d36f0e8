/**
 * The `metrics` service every runtime gives its nodes: counters of the node's own in the
 * runtime's `/metrics` (prom-client), named `evoflow_<name>_total` and labelled by pipeline and
 * node, as the runtime's own are. Types only; a node gets it with `ctx.service(key)`.
 */
export interface MetricsService {
  /**
   * The counter `evoflow_<name>_total` (`name` in lower case, words joined by `_`), made on first
   * use and shared by every node asking for the same name; a name the runtime's own metrics use
   * is refused.
   */
  counter(name: string, help: string): NodeCounter;
}

export interface NodeCounter {
  inc(labels: { pipeline: string; node: string }, by?: number): void;
}
