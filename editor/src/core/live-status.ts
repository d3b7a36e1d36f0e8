/**
 * A deployed pipeline's live status, framework-free (hooks/useLiveStatus.ts shows it): the
 * runtime's counters polled once a second, turned into per-node and per-edge figures with
 * rates (messages a second since the previous poll).
 */
import { ApiError, type EdgeStatus, type PipelineStatus } from "../api";

export interface NodeLive {
  in: number;
  out: number;
  errors: number;
  /** Messages out per second since the previous poll. */
  rate: number;
  /** Other figures the node reports (drift magnitude, buffer fill, …). */
  extra: Record<string, unknown>;
}

export interface EdgeLive extends EdgeStatus {
  rate: number;
}

export interface LiveStatus {
  nodes: Map<string, NodeLive>;
  edges: Map<string, EdgeLive>;
}

/** Turns successive status answers into live figures; rates are 0 on the first. */
export class StatusRates {
  private previous: { at: number; nodes: Map<string, number>; edges: Map<string, number> } | undefined;

  update(status: PipelineStatus, atMs: number): LiveStatus {
    const previous = this.previous;
    const secs = previous ? (atMs - previous.at) / 1000 : 0;
    const rate = (now: number, before: number | undefined) => (secs > 0 && before !== undefined ? Math.max(0, now - before) / secs : 0);
    const nodes = new Map<string, NodeLive>();
    for (const [id, n] of Object.entries(status.nodes)) {
      const { type: _t, in: inCount, out, errors, ...extra } = n;
      nodes.set(id, { in: inCount, out, errors, rate: rate(out, previous?.nodes.get(id)), extra });
    }
    const edges = new Map<string, EdgeLive>();
    for (const [id, e] of Object.entries(status.edges)) edges.set(id, { ...e, rate: rate(e.tapped, previous?.edges.get(id)) });
    this.previous = { at: atMs, nodes: new Map([...nodes].map(([id, n]) => [id, n.out])), edges: new Map([...edges].map(([id, e]) => [id, e.tapped])) };
    return { nodes, edges };
  }
}

export interface PollOptions {
  fetchStatus(): Promise<PipelineStatus>;
  onStatus(live: LiveStatus): void;
  /** The pipeline is not running any more (a 404); polling has stopped. */
  onGone(): void;
  intervalMs?: number;
  now?: () => number;
}

/** Polls at once and then every `intervalMs`; other errors are skipped until the next poll. Returns stop. */
export function pollLiveStatus(options: PollOptions): () => void {
  const rates = new StatusRates();
  const now = options.now ?? (() => performance.now());
  let stopped = false;
  const poll = async () => {
    try {
      const status = await options.fetchStatus();
      if (!stopped) options.onStatus(rates.update(status, now()));
    } catch (err) {
      if (!stopped && err instanceof ApiError && err.status === 404) {
        stop();
        options.onGone();
      }
    }
  };
  const timer = setInterval(poll, options.intervalMs ?? 1000);
  const stop = () => {
    stopped = true;
    clearInterval(timer);
  };
  void poll();
  return stop;
}
