export declare const MAX_ITEMS: number;
export declare const MAX_STRING: number;
export declare const INLINE_SORT_ITEMS: number;
export declare const INLINE_QUADRATIC_ITEMS: number;
export declare class MoveToWorker extends Error {
  constructor(why: string);
}
export interface EvaluationLimits {
  /** Time left for this evaluation. */
  timeoutMs: number;
  /** The limit the user set, named in the error (the worker gets what is left of it as `timeoutMs`). */
  label?: number;
  maxDepth: number;
}
export interface CompiledLimited {
  readonly needsWorker: boolean;
  evaluate(input: unknown, bindings: Record<string, unknown> | undefined, limits: EvaluationLimits): Promise<unknown>;
}
export declare function compileLimited(source: string, inline?: { overrunMs: number }): CompiledLimited;
/** jsonata's own size limit error as a UserCodeLimitError; any other error as it is. */
export declare function asLimitError(err: unknown): unknown;
