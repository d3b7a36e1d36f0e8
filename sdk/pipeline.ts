/** Names in pipeline JSON that the runtime and its clients (the editor) must agree on. */

/** An edge's id: its own `id`, else made from its ends (`a.out` → `b.in` is `a_out-b_in`). */
export function edgeId(edge: { id?: string; from: string; to: string }): string {
  return edge.id ?? `${edge.from.replace(".", "_")}-${edge.to.replace(".", "_")}`;
}

/**
 * The pipeline's stream of explanations made on demand (`evoflow explain`, the trace view's
 * buttons): tapped and read back as an edge is (`evoflow tap <pipeline> _explanations`, and on
 * NATS from the pipeline's JetStream stream). No edge can take the name: edge ids start with a letter.
 */
export const EXPLANATIONS_STREAM = "_explanations";
