/** The pipeline the engine benches measure: inject → n × "set payload.kI = I" → sink, every edge of one mode. */
export function transformChain(name: string, n: number, mode: "sync" | "async", maxInFlight: number) {
  const nodes: { id: string; type: string; config?: Record<string, unknown> }[] = [{ id: "inject", type: "io.http" }, { id: "sink", type: "io.sink" }];
  const edges: { from: string; to: string; mode: "sync" | "async" }[] = [];
  let prev = "inject.out";
  for (let i = 1; i <= n; i++) {
    nodes.push({ id: `t${i}`, type: "transform.set", config: { set: { [`k${i}`]: i } } });
    edges.push({ from: prev, to: `t${i}.in`, mode });
    prev = `t${i}.out`;
  }
  edges.push({ from: prev, to: "sink.in", mode });
  // A chunk's requests are all in flight at once: above the default in-flight limit (runtime/overload.ts).
  return { apiVersion: "evoflow/v1" as const, name, nodes, edges, settings: { maxInFlight } };
}
