/**
 * CPU-seconds per node, measured where the node runs, without a syscall per message.
 *
 * Why not `process.cpuUsage()` around every call: it is a getrusage syscall, measured here at
 * 0.8–1.8 µs, while a whole hop of the in-process engine costs ~0.5 µs; two per hop would slow a
 * chain of transforms several times. And async node calls interleave, so the process's CPU
 * between a call's start and its end belongs to whatever else ran meanwhile.
 *
 * What is measured instead, honestly:
 * - every call: the wall time of its *synchronous* segment (from `onMessage` being called until
 *   it returns or first awaits), with nested sync hops subtracted, so a node is charged only its
 *   own code. The engine already reads `performance.now()` there for latency; this adds a few
 *   field updates. On one thread a synchronous segment is CPU time unless the OS takes the CPU
 *   away (a busy machine) or the node blocks in a sync syscall;
 * - at most once per SAMPLE_EVERY_MS per node: getrusage around that same segment, which gives
 *   the node's ratio of CPU to wall time (below 1 when preempted or blocked). The node's CPU is
 *   its synchronous wall time × that ratio, so a node preempted half the time is charged half.
 *   getrusage counts the whole process, so GC helper threads working during the segment are
 *   charged to the node whose allocations they clean up.
 * - not measured: what a node computes after its first `await` (a continuation has no caller
 *   on the stack to attribute it to). It shows in `process_cpu_seconds_total` but in no node;
 *   the gap between the two is the engine, transports, HTTP, GC and such continuations.
 * CPU spent in another process for a node (a Python worker, the model agent) is reported by
 * that process and added with `addExternal` (see NodeContext.accountCpu).
 */

/** At most one getrusage pair per node this often: 100 per second per node at most. */
const SAMPLE_EVERY_MS = 10;

export class CpuAccount {
  /** Milliseconds of this node's own synchronous segments. */
  selfWallMs = 0;
  /** Over the sampled segments: process CPU (ms) and wall (ms), for the CPU/wall ratio. */
  sampledCpuMs = 0;
  sampledWallMs = 0;
  /** CPU seconds reported for this node by other processes (Python workers, …). */
  externalSeconds = 0;
  lastSampleAt = Number.NEGATIVE_INFINITY;
  sampleFrom: NodeJS.CpuUsage | undefined;

  /** CPU seconds charged to the node so far. */
  get cpuSeconds(): number {
    const ratio = this.sampledWallMs > 0 ? this.sampledCpuMs / this.sampledWallMs : 1;
    return (this.selfWallMs * ratio) / 1000 + this.externalSeconds;
  }

  addExternal(seconds: number): void {
    if (Number.isFinite(seconds) && seconds > 0) this.externalSeconds += seconds;
  }
}

/**
 * The synchronous segments open on this thread's stack: a sync hop runs inside its caller's
 * segment, and its time is taken out of the caller's. One per process (the stack is).
 */
class SyncSegments {
  /** Wall ms of segments nested in the innermost open one. */
  private nestedMs = 0;

  /** Opens a segment at `now` (performance.now()); returns what `close` needs back. */
  open(account: CpuAccount, now: number): number {
    const outer = this.nestedMs;
    this.nestedMs = 0;
    if (now - account.lastSampleAt >= SAMPLE_EVERY_MS && !account.sampleFrom) {
      account.lastSampleAt = now;
      account.sampleFrom = process.cpuUsage();
    }
    return outer;
  }

  close(account: CpuAccount, outer: number, started: number, now: number): void {
    const inclusive = now - started;
    account.selfWallMs += inclusive - this.nestedMs;
    this.nestedMs = outer + inclusive;
    const from = account.sampleFrom;
    if (from) {
      account.sampleFrom = undefined;
      const used = process.cpuUsage(from);
      account.sampledCpuMs += (used.user + used.system) / 1000;
      account.sampledWallMs += inclusive;
    }
  }
}

export const syncSegments = new SyncSegments();
