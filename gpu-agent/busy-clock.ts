/**
 * The agent's utilisation: the share of the last `windowMs` during which at least one request
 * was in flight (busy time, as MLModelCI's controller reads a device's utilisation). Requests
 * overlapping count once: two at a time is no busier than one for the question it answers —
 * is there idle time to profile in. The idle profiler's own runs are not requests.
 *
 * Busy time is kept in 50 slots of a fiftieth of the window each, so memory stays bounded at
 * any request rate; the window's oldest edge is read to within one slot.
 */
const SLOTS = 50;

export class BusyClock {
  /** Requests in flight now. */
  inFlight = 0;
  /** Requests begun so far: the profiler sees one arrive during its run by this changing. */
  started = 0;
  private busySince = 0;
  private idleWaiters: (() => void)[] = [];
  private readonly slotMs: number;
  /** Busy milliseconds per slot, and which slot number (time / slotMs) each holds now. */
  private readonly busyMs = new Float64Array(SLOTS);
  private readonly slotOf = new Float64Array(SLOTS).fill(-1);

  constructor(readonly windowMs: number) {
    this.slotMs = windowMs / SLOTS;
  }

  begin(): void {
    this.started++;
    if (this.inFlight++ === 0) this.busySince = performance.now();
  }

  end(): void {
    if (--this.inFlight > 0) return;
    this.add(this.busySince, performance.now());
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const wake of waiters) wake();
  }

  /** Resolves when no request is in flight (now, if none is). */
  whenIdle(): Promise<void> {
    return this.inFlight === 0 ? Promise.resolve() : new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Busy share of the last window, 0…1. */
  utilisation(now = performance.now()): number {
    const oldest = Math.floor((now - this.windowMs) / this.slotMs);
    let busy = this.inFlight > 0 ? now - Math.max(now - this.windowMs, this.busySince) : 0;
    for (let i = 0; i < SLOTS; i++) if (this.slotOf[i] > oldest) busy += this.busyMs[i];
    return Math.min(1, busy / this.windowMs);
  }

  private add(since: number, to: number): void {
    const from = Math.max(since, to - this.windowMs);
    for (let slot = Math.floor(from / this.slotMs); slot * this.slotMs < to; slot++) {
      const i = slot % SLOTS;
      if (this.slotOf[i] !== slot) {
        this.slotOf[i] = slot;
        this.busyMs[i] = 0;
      }
      this.busyMs[i] += Math.min(to, (slot + 1) * this.slotMs) - Math.max(from, slot * this.slotMs);
    }
  }
}
