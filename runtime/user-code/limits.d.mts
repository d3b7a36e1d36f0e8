export declare const SLICE_MS: number;
export type LimitName = "time" | "depth" | "items" | "string" | "memory";
export declare class UserCodeLimitError extends Error {
  constructor(message: string, limit: LimitName);
  readonly limit: LimitName;
}
export declare const formatCount: (n: number) => string;
export declare class TimeBudget {
  /** `sliceMs`: wait a turn of the event loop after this long (Infinity: never); `overrunMs`: throw overrunError() after this long. */
  constructor(timeoutMs: number, sliceMs?: number, overrunMs?: number);
  readonly started: number;
  readonly timeoutMs: number;
  tick(): Promise<void> | undefined;
  timeError(): Error;
  overrunError(): Error;
}
