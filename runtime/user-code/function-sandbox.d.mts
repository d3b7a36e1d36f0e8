export interface FunctionHooks {
  emit(port: string, payload: unknown): Promise<unknown>;
  log(level: "debug" | "info" | "warn" | "error", text: string): void;
}
export interface FunctionRunLimits {
  timeoutMs: number;
  /** The user's limit named in the error, when `timeoutMs` is what is left of it. */
  label?: number;
  memoryMb: number;
  /** Past this, a run that had no effect yet stops with MoveToWorker. */
  overrunMs?: number;
}
export interface SandboxState {
  readonly state: unknown;
  readonly ctx: unknown;
}
export interface CompiledFunction {
  /** The result, or a promise of it when the code is async. */
  run(payload: unknown, state: SandboxState, hooks: FunctionHooks, limits: FunctionRunLimits): unknown;
  makeState(data: unknown): SandboxState;
  readState(state: SandboxState): Record<string, unknown>;
}
export function instrument(code: string): { source: string; isAsync: boolean; globals: string[] };
export function compileFunction(code: string, options?: { libs?: readonly string[]; requireFrom?: string; what?: string }): CompiledFunction;
export function describe(err: unknown): string;
export class MoveToWorker extends Error {}
