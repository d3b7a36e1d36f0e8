/**
 * Joins served requests with labels that arrive later, by request id, within a
 * window of time. Handles what real label streams do:
 * - late labels (after the request left the window): counted as `late`, dropped;
 * - missing labels (the window passed with none): counted as `missing`;
 * - duplicate labels (a second label for a joined request): counted, the first kept;
 * - early labels (before the request itself arrives, e.g. across two streams): held
 *   for the same window and joined when the request comes.
 * Time is passed in by the caller (message timestamps), so the join is
 * deterministic and testable.
 *
 * @example
 * ```ts
 * const join = new LabelJoin<{ x: number[] }>({ windowMs: 60_000 });
 * join.request("r1", { x: [1, 2] }, 1000);
 * join.label("r1", "cat", 5000); // → { kind: "joined", requestId: "r1", request: { x: [1, 2] }, label: "cat" }
 * join.label("r1", "dog", 6000); // → { kind: "duplicate" }
 * ```
 */
import type { Label } from "./dataset";

export interface LabelJoinOptions {
  /** How long a request waits for its label, and an early label for its request. */
  windowMs: number;
  /** Requests (and early labels) held at most; the oldest are expired beyond it. */
  maxPending?: number;
  /** Joined/expired request ids remembered to recognise duplicate and late labels. */
  memory?: number;
  /** Told each id whose request or early label stops waiting unjoined (expired or evicted): a store of pending entries forgets it. */
  onDrop?: (requestId: string) => void;
}

export type JoinResult<R> =
  | { kind: "joined"; requestId: string; request: R; label: Label; labelledAt: number; requestedAt: number }
  | { kind: "held" }
  | { kind: "duplicate" }
  | { kind: "late" };

export interface JoinCounters {
  requests: number;
  labels: number;
  joined: number;
  /** Labels held before their request arrived (later joined or expired). */
  early: number;
  late: number;
  duplicate: number;
  /** Requests whose window passed without a label. */
  missing: number;
  /** Early labels whose request never came. */
  orphaned: number;
  /** Requests seen twice under one id (the first is kept). */
  duplicateRequests: number;
}

/** A bounded set that forgets its oldest entries. */
class RecentIds {
  private readonly ids = new Set<string>();
  constructor(private readonly capacity: number) {}
  add(id: string): void {
    this.ids.add(id);
    if (this.ids.size > this.capacity) this.ids.delete(this.ids.values().next().value!);
  }
  has(id: string): boolean {
    return this.ids.has(id);
  }
}

export class LabelJoin<R> {
  readonly counters: JoinCounters = { requests: 0, labels: 0, joined: 0, early: 0, late: 0, duplicate: 0, missing: 0, orphaned: 0, duplicateRequests: 0 };
  // Maps iterate in insertion order, which is arrival order: expiry pops from the front.
  private readonly pending = new Map<string, { request: R; at: number }>();
  private readonly earlyLabels = new Map<string, { label: Label; at: number }>();
  private readonly joined: RecentIds;
  private readonly expired: RecentIds;
  private readonly windowMs: number;
  private readonly maxPending: number;
  private readonly onDrop?: (requestId: string) => void;

  constructor({ windowMs, maxPending = 100_000, memory = 100_000, onDrop }: LabelJoinOptions) {
    this.windowMs = windowMs;
    this.maxPending = maxPending;
    this.onDrop = onDrop;
    this.joined = new RecentIds(memory);
    this.expired = new RecentIds(memory);
  }

  get waiting(): number {
    return this.pending.size;
  }

  /**
   * Puts back what waited before a restart (a pending store's entries, oldest first), with the
   * time it arrived; counted as neither a request nor a label again.
   */
  restore(entry: { op: "request"; id: string; at: number; request: R } | { op: "label"; id: string; at: number; label: Label }): void {
    if (entry.op === "request") this.pending.set(entry.id, { request: entry.request, at: entry.at });
    else this.earlyLabels.set(entry.id, { label: entry.label, at: entry.at });
  }

  /** A served request (with its prediction). Joins at once if its label came first. */
  request(requestId: string, request: R, now: number): JoinResult<R> {
    this.expire(now);
    this.counters.requests++;
    if (this.pending.has(requestId) || this.joined.has(requestId)) {
      this.counters.duplicateRequests++;
      return { kind: "duplicate" };
    }
    const early = this.earlyLabels.get(requestId);
    if (early) {
      this.earlyLabels.delete(requestId);
      return this.join(requestId, request, now, early.label, early.at);
    }
    this.pending.set(requestId, { request, at: now });
    if (this.pending.size > this.maxPending) this.expireOldestRequest();
    return { kind: "held" };
  }

  /** A label for a request id. */
  label(requestId: string, label: Label, now: number): JoinResult<R> {
    this.expire(now);
    this.counters.labels++;
    const pending = this.pending.get(requestId);
    if (pending) {
      this.pending.delete(requestId);
      return this.join(requestId, pending.request, pending.at, label, now);
    }
    if (this.joined.has(requestId) || this.earlyLabels.has(requestId)) {
      this.counters.duplicate++;
      return { kind: "duplicate" };
    }
    if (this.expired.has(requestId)) {
      this.counters.late++;
      return { kind: "late" };
    }
    this.counters.early++;
    this.earlyLabels.set(requestId, { label, at: now });
    if (this.earlyLabels.size > this.maxPending) this.orphanOldestLabel();
    return { kind: "held" };
  }

  /** Expires requests and early labels older than the window. */
  expire(now: number): void {
    for (const [id, p] of this.pending) {
      if (now - p.at <= this.windowMs) break;
      this.expireOldestRequest(id);
    }
    for (const [id, l] of this.earlyLabels) {
      if (now - l.at <= this.windowMs) break;
      this.orphanOldestLabel(id);
    }
  }

  private orphanOldestLabel(id: string = this.earlyLabels.keys().next().value!): void {
    this.earlyLabels.delete(id);
    this.counters.orphaned++;
    this.onDrop?.(id);
  }

  private expireOldestRequest(id: string = this.pending.keys().next().value!): void {
    this.pending.delete(id);
    this.expired.add(id);
    this.counters.missing++;
    this.onDrop?.(id);
  }

  private join(requestId: string, request: R, requestedAt: number, label: Label, labelledAt: number): JoinResult<R> {
    this.joined.add(requestId);
    this.counters.joined++;
    return { kind: "joined", requestId, request, label, labelledAt, requestedAt };
  }
}
