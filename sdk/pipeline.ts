/** Names in pipeline JSON that the runtime and its clients (the editor) must agree on. */

/** An edge's id: its own `id`, else made from its ends (`a.out` → `b.in` is `a_out-b_in`). */
export function edgeId(edge: { id?: string; from: string; to: string }): string {
  return edge.id ?? `${edge.from.replace(".", "_")}-${edge.to.replace(".", "_")}`;
}
