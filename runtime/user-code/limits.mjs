// Limits for code users write into a pipeline (JSONata today; transform.function and
// python.function later): a time budget that also hands the event loop back, and the error a
// tripped limit throws. Plain JavaScript so a worker thread can load it without a TypeScript
// loader (runtime/user-code/*-worker.mjs); types in limits.d.mts.

/**
 * How long user code may run in one go on the runtime's event loop before it waits a turn
 * (setImmediate) so other pipelines' sockets are read and answered. A turn costs ~5-20 us, so
 * 0.5 ms slices cost a runaway a few per cent; a request needs a few turns (read, parse,
 * reply), each delayed by up to a slice.
 */
export const SLICE_MS = 0.5;

/** Calls between two clock reads: performance.now() costs ~40 ns, a JSONata step ~0.3-1 us. */
const CALLS_PER_CHECK = 32;

/** A limit user code ran into; `limit` names which (time, depth, items, string, memory). */
export class UserCodeLimitError extends Error {
  constructor(message, limit) {
    super(message);
    this.name = "UserCodeLimitError";
    this.limit = limit;
  }
}

/** 10000000 -> "10,000,000" (en-US whatever the locale, so messages match across machines). */
export const formatCount = (n) => n.toLocaleString("en-US");

const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

/**
 * One evaluation's clock. `tick()` is called at every step of the user code: it is a counter
 * most of the time; every CALLS_PER_CHECK calls it reads the clock, throws `timeError()` past
 * the deadline, throws `overrunError()` past `overrunMs` (the caller moves the work elsewhere),
 * and returns a promise to await once `sliceMs` have passed since the last turn. Subclasses
 * name the code in the errors.
 */
export class TimeBudget {
  constructor(timeoutMs, sliceMs = SLICE_MS, overrunMs = Infinity) {
    this.calls = 0;
    this.started = performance.now();
    this.lastTurn = this.started;
    this.timeoutMs = timeoutMs;
    this.sliceMs = sliceMs;
    this.overrunMs = overrunMs;
  }

  tick() {
    if (++this.calls % CALLS_PER_CHECK !== 0) return undefined;
    const now = performance.now();
    if (now - this.started > this.timeoutMs) throw this.timeError();
    if (now - this.started > this.overrunMs) throw this.overrunError();
    if (now - this.lastTurn < this.sliceMs) return undefined;
    return nextTurn().then(() => {
      this.lastTurn = performance.now();
    });
  }

  timeError() {
    return new UserCodeLimitError(`user code exceeded its time limit of ${formatCount(this.timeoutMs)} ms`, "time");
  }

  overrunError() {
    return new Error(`user code ran over ${formatCount(this.overrunMs)} ms`);
  }
}
