/**
 * V8 settings of the commands that serve pipelines (`run`, `worker`); a worker's young
 * generation, which only applies at start, is bin/evoflow.js's (worker-launch.mjs).
 */
import { setFlagsFromString } from "node:v8";

/**
 * - `--no-memory-reducer`: while the process is idle the reducer shrinks the heap's
 *   limits, and when requests come back Node 20's V8 then runs major collections back to
 *   back. Measured on the sync-path bench's servers after 15 s idle, 16 clients: 198
 *   mark-compacts in 20 s and p99 8.7–11 ms with it, 13–16 and 3.0–4.6 ms without; the
 *   bare fastify server suffers too (96 of them, p99 4.2–4.9 ms).
 * - `--heap-growing-percent=100`: after a major collection V8 sets the old generation's
 *   next limit at live size × a factor it derives from how fast collections run; on a
 *   small heap it chose ~1.1, leaving less room than the young generation can promote,
 *   so incremental marking began again at once. The sync-path bench's runtime server,
 *   one client: 40–190 mark-compacts in 36 s (one every 100–150 ms at ~27 MB live) and
 *   160–260 µs of CPU a request; with a factor of 2, 3–5 of them and 162 µs.
 *   It costs memory: the examples under `npm start` held 168 MB steady instead of 149
 *   (bench/examples-memory.ts), so a process run with `--optimize-for-size` (as `npm
 *   start` is) keeps V8's own factor.
 * Set at run time, they still apply. Not for `evoflow agent`: its session workers' heaps
 * churn with every load, and without the reducer an overcommitted agent peaked 60–90 MB
 * higher (bench/agent-overcommit.ts) with no better latency.
 */
const NO_MEMORY_REDUCER = "--no-memory-reducer";
const ROOMY_OLD_GENERATION = "--heap-growing-percent=100";
/** What `evoflow run` sets (bench/ starts its servers under test with them). */
export const SERVING_V8_FLAGS = [NO_MEMORY_REDUCER, ROOMY_OLD_GENERATION];

export function applyServingV8Flags(): void {
  setFlagsFromString(NO_MEMORY_REDUCER);
  if (!process.execArgv.includes("--optimize-for-size")) setFlagsFromString(ROOMY_OLD_GENERATION);
}

/**
 * `evoflow worker`: no memory reducer either, but the old generation grows to 1.5× its live
 * size, not 2×: a worker of transforms has to stay within 120 MB (issue 24), and with its
 * small young generation (worker-launch.mjs) little is promoted (bench/results/worker-rss.md
 * measures both). Node refuses these in NODE_OPTIONS; one given on node's command line is
 * the user's and is kept.
 */
export const WORKER_V8_FLAGS = [NO_MEMORY_REDUCER, "--heap-growing-percent=50"];

export function applyWorkerV8Flags(): void {
  const nameOf = (flag: string) => flag.replace(/^--(no-)?/, "").split("=")[0];
  for (const flag of WORKER_V8_FLAGS) if (!process.execArgv.some((a) => nameOf(a) === nameOf(flag))) setFlagsFromString(flag);
}
