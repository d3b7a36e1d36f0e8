/**
 * Load shedding of sync requests. The engine knows nothing of HTTP: it refuses a
 * request with an OverloadedError, and the API answers it with 429 (503 on the OIP
 * routes, as Triton does) and Retry-After.
 *
 * Two limits, both checked when a request enters, so a refused request costs nothing
 * and nothing of it is queued anywhere:
 * - in flight: at most `settings.maxInFlight` (256 unless set) sync requests of a
 *   pipeline are being handled at once. 256 is far above what the examples need (a
 *   model at 1,000 req/s and 10 ms is 10 in flight) and keeps memory bounded: a
 *   request's body (16 MiB at most) and its messages are held only while in flight.
 * - a full async edge with `overflow: "block"` on the request's sync path (an async
 *   edge leaving any node the request passes through), where the transport has bounded
 *   queues (memory; on nats the stream takes what it is sent): while it is full a request
 *   would wait for the consumer, so it is refused instead. Requests admitted just
 *   before the edge filled may still wait, but they are within the in-flight limit:
 *   the blocked producers of an edge are bounded by it, and so is their memory.
 *   Producers that are not requests (sources, async consumers) keep blocking, as
 *   `block` promises: nothing of theirs is dropped.
 */
import type { Entrypoint } from "../sdk/contract";
import type { EdgeInfo, Transport } from "./transport/transport";

export type ShedReason = "in-flight" | "queue-full";

/** Seconds a refused client is told to wait: about what a slow request or a drained queue takes. */
const RETRY_AFTER_SECONDS = 1;

export class OverloadedError extends Error {
  override name = "OverloadedError";
  readonly retryAfterSeconds = RETRY_AFTER_SECONDS;
  constructor(
    readonly pipeline: string,
    readonly reason: ShedReason,
    message: string,
  ) {
    super(message);
  }
}

/** The async `block` edges leaving the nodes a request entering at `entryNode` passes through over sync edges. */
export function requestPathBlockEdges(edges: readonly EdgeInfo[], entryNode: string): EdgeInfo[] {
  const onPath = new Set([entryNode]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const e of edges)
      if (e.mode === "sync" && onPath.has(e.from.node) && !onPath.has(e.to.node)) {
        onPath.add(e.to.node);
        grew = true;
      }
  }
  return edges.filter((e) => e.mode === "async" && e.queue.overflow === "block" && onPath.has(e.from.node));
}

/** Admission of one pipeline's sync requests: its in-flight count and the limits above. */
export class Admission {
  private inFlight = 0;

  constructor(
    private readonly pipeline: string,
    private readonly maxInFlight: number,
    private readonly transport: Pick<Transport, "isFull">,
    private readonly onShed: (reason: ShedReason) => void,
  ) {}

  /** Sync requests being handled now. */
  get current(): number {
    return this.inFlight;
  }

  /** The entry point with admission in front of it. */
  guard(entry: Entrypoint, blockEdges: readonly EdgeInfo[]): Entrypoint {
    const done = () => void this.inFlight--;
    return {
      name: entry.name,
      invoke: (payload, options) => {
        const refused = this.refusal(blockEdges);
        if (refused) {
          this.onShed(refused.reason);
          return Promise.reject(refused);
        }
        this.inFlight++;
        let result: Promise<Awaited<ReturnType<Entrypoint["invoke"]>>>;
        try {
          result = entry.invoke(payload, options);
        } catch (err) {
          this.inFlight--;
          throw err;
        }
        result.then(done, done);
        return result;
      },
    };
  }

  private refusal(blockEdges: readonly EdgeInfo[]): OverloadedError | undefined {
    if (this.inFlight >= this.maxInFlight)
      return new OverloadedError(this.pipeline, "in-flight", `pipeline ${this.pipeline} is handling ${this.maxInFlight} requests, its limit (settings.maxInFlight): retry later`);
    for (const edge of blockEdges)
      if (this.transport.isFull?.(edge))
        return new OverloadedError(this.pipeline, "queue-full", `async edge ${edge.id} of pipeline ${this.pipeline} is full (${edge.queue.capacity} messages, overflow block): retry later`);
    return undefined;
  }
}
