/**
 * CPU-seconds per node, measured where the node runs, at a cost a trivial hop hardly notices.
 *
 * Why not `process.cpuUsage()` around every call: it is a getrusage syscall, measured here at
 * 0.8–1.8 µs, while a whole hop of the in-process engine costs ~0.5 µs. And async node calls
 * interleave, so the process's CPU between a call's start and its end belongs to whatever else
 * ran meanwhile. Why not even a clock per call: two `performance.now()` and the nesting
 * bookkeeping cost a 10-transform chain a few percent (bench/results/cost-overhead.md).
 *
 * What is measured instead, honestly:
 * - every call is counted (one increment and one compare on the hot path);
 * - a node's first WARM_CALLS calls, then about one in `sampleEvery` (settings
 *   cost.nodeCpuSampleEvery; a random gap, so a node whose cost alternates with its input is not
 *   always caught on the same kind of message), are timed:
 *   the wall time of the *synchronous* segment (from `onMessage` being called until it returns or
 *   first awaits), with nested sync hops subtracted, so a node is charged only its own code.
 *   Every hop nested in a timed segment is timed too, or its time could not be taken out of its
 *   caller's. A node's synchronous time is its mean timed segment × its calls;
 * - getrusage around every outermost timed segment gives its ratio of CPU to wall time (for it
 *   and the hops nested in it), capped at 1: below 1 when the OS
 *   preempted it or it blocked in a sync syscall, and never above, as a segment runs on one
 *   thread and getrusage also counts the process's other threads (GC helpers, onnxruntime's
 *   pool). The ratio must come from the same segments as the wall time: a segment preempted for
 *   a 4 ms time slice in a sample of 0.25 ms ones would otherwise be charged several times over
 *   on a busy machine (it was, when the ratio was read once per 50 ms on other segments).
 * - not measured: what a node computes after its first `await` (a continuation has no caller
 *   on the stack to attribute it to). It shows in `process_cpu_seconds_total` but in no node;
 *   the gap between the two is the engine, transports, HTTP, GC and such continuations.
 * CPU spent in another process for a node (a Python worker, the model agent) is reported by
 * that process and added with `addExternal` (see NodeContext.accountCpu).
 */

/** Calls timed one by one before sampling starts: a node called rarely is measured exactly. */
const WARM_CALLS = 64;
/** Timed segments nested deeper are charged to their caller (the engine defers at 100 anyway). */
const MAX_DEPTH = 128;
/** Nested segments scaled by their outermost one's ratio; more are charged unscaled. */
const MAX_PENDING = 1024;

export class CpuAccount {
  /** Mean calls between two timed ones after the first WARM_CALLS. */
  constructor(readonly sampleEvery = 256) {}

  /** onMessage calls. */
  calls = 0;
  /** The call number from which the next is timed. */
  nextTimed = 0;
  /** Timed calls, and the CPU milliseconds of their own synchronous segments (nested ones added when their outermost ends). */
  timedCalls = 0;
  timedSelfMs = 0;
  /** CPU seconds reported for this node by other processes (Python workers, …). */
  externalSeconds = 0;

  /** CPU seconds charged to the node so far. */
  get cpuSeconds(): number {
    if (this.timedCalls === 0) return this.externalSeconds;
    return ((this.timedSelfMs / this.timedCalls) * this.calls) / 1000 + this.externalSeconds;
  }

  addExternal(seconds: number): void {
    if (Number.isFinite(seconds) && seconds > 0) this.externalSeconds += seconds;
  }
}

/**
 * The timed synchronous segments open on this thread's stack: a sync hop runs inside its
 * caller's segment, and its time is taken out of the caller's. One per thread (the stack is);
 * preallocated, so a timed hop allocates nothing but the outermost segment's two getrusage results.
 * getrusage brackets only the outermost timed segment (0.6 µs a read; nested hops are timed
 * often, as every hop in a timed segment is, and bracketing each cost the chain ~5%): its
 * CPU/wall ratio scales its own time and every nested segment's, kept until it ends.
 */
class SyncSegments {
  private depth = 0;
  private readonly started = new Float64Array(MAX_DEPTH);
  /** Process CPU (µs) when the outermost open segment started. */
  private cpuStarted = 0;
  /** Wall ms of timed segments nested directly in each open one. */
  private readonly nested = new Float64Array(MAX_DEPTH);
  /** Nested segments ended inside the open outermost one: their accounts and own wall ms, scaled when it ends. */
  private readonly pendingAccounts: (CpuAccount | undefined)[] = new Array(MAX_PENDING).fill(undefined);
  private readonly pendingMs = new Float64Array(MAX_PENDING);
  private pending = 0;

  /** Counts a call to the account's node; true when it is timed, and `exit` must follow it. */
  enter(account: CpuAccount): boolean {
    const call = account.calls++;
    if (this.depth === 0 && call < account.nextTimed) return false;
    if (this.depth === MAX_DEPTH) return false;
    if (call >= WARM_CALLS) account.nextTimed = call + 1 + ((Math.random() * (2 * account.sampleEvery - 1)) | 0);
    const d = this.depth++;
    if (d === 0) this.cpuStarted = cpuMicros();
    this.started[d] = performance.now();
    this.nested[d] = 0;
    return true;
  }

  /** Ends the innermost timed segment, the node's call having returned (or thrown). */
  exit(account: CpuAccount): void {
    const d = --this.depth;
    const inclusive = performance.now() - this.started[d];
    const self = inclusive - this.nested[d];
    account.timedCalls++;
    if (d > 0) {
      this.nested[d - 1] += inclusive;
      if (this.pending < MAX_PENDING) {
        this.pendingAccounts[this.pending] = account;
        this.pendingMs[this.pending++] = self;
      } else account.timedSelfMs += self; // unscaled: more nested hops than kept
      return;
    }
    const ratio = inclusive > 0 ? Math.min(1, (cpuMicros() - this.cpuStarted) / 1000 / inclusive) : 1;
    account.timedSelfMs += self * ratio;
    for (let i = 0; i < this.pending; i++) {
      this.pendingAccounts[i]!.timedSelfMs += this.pendingMs[i] * ratio;
      this.pendingAccounts[i] = undefined;
    }
    this.pending = 0;
  }
}

function cpuMicros(): number {
  const cpu = process.cpuUsage();
  return cpu.user + cpu.system;
}

export const syncSegments = new SyncSegments();
