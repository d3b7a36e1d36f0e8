/**
 * Typed keys for the shared services a runtime gives its nodes (the model registry, the agents…).
 * A node type lists the keys it uses (`services: [models]`), so validate and deploy refuse a
 * pipeline on a runtime that lacks one, at the node's JSON path, instead of the node failing
 * when it starts; `ctx.service(models)` then returns the service with its type.
 */
export interface ServiceKey<T = unknown> {
  readonly name: string;
  /** Never set: carries T for `ctx.service(key)`. */
  readonly __service?: T;
}

export function defineService<T>(name: string): ServiceKey<T> {
  return { name };
}
