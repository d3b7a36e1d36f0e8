/**
 * V8 settings of the commands that serve pipelines (`run`, `worker`).
 */
import { setFlagsFromString } from "node:v8";

/**
 * Turns V8's memory reducer off. While the process is idle it shrinks the heap's limits,
 * and when requests come back Node 20's V8 then runs major collections back to back.
 * Measured on the sync-path bench's servers after 15 s idle, 16 clients: 198
 * mark-compacts in 20 s and p99 8.7–11 ms with it, 13–16 and 3.0–4.6 ms without; the bare
 * fastify server suffers too (96 of them, p99 4.2–4.9 ms). Set at run time, it still
 * applies. Not for `evoflow agent`: its session workers' heaps churn with every load, and
 * without the reducer an overcommitted agent peaked 60–90 MB higher (bench/agent-overcommit.ts)
 * with no better latency.
 */
export function keepHeapLimitsThroughIdle(): void {
  setFlagsFromString("--no-memory-reducer");
}
