/**
 * How bin/evoflow.js starts `evoflow worker`: with a small young generation, which V8 sizes
 * only when a process starts (set later, `--max-semi-space-size` changes nothing). Plain
 * JavaScript because bin/evoflow.js reads it before the CLI (bundle or TypeScript) loads.
 *
 * A worker of transforms holds ~26 MB live; V8's default 16 MB semi-spaces (32 MB of young
 * generation, promoted in bulk under load) put its peak at 145–185 MB, the issue's budget
 * being 120 MB. Smaller semi-spaces mean more scavenges, each cheap as little survives one:
 * bench/results/worker-rss.md measures RSS and CPU per message for each size.
 */

/**
 * MB of each semi-space of a worker. Three runs at load 8–17 on 2 cores: a transforms worker
 * peaked at 111–113 MB with 2 and 114–116 with 4 (118.6 once), each for 1.14–1.42× the CPU
 * per message of 32 (the noise of a busy machine is as large as the difference); 2 keeps the
 * 120 MB budget with room when the machine is loaded.
 */
export const WORKER_SEMI_SPACE_MB = 2;

const SEMI_SPACE_FLAG = "--max-semi-space-size";
const WORKER_FLAG = `${SEMI_SPACE_FLAG}=${WORKER_SEMI_SPACE_MB}`;

/**
 * The node flags to start a worker with, or undefined when this process already runs with
 * them or the user chose a size in NODE_OPTIONS (theirs wins). The shebang's own
 * `--max-semi-space-size` (for `evoflow run`) is replaced.
 * @param {readonly string[]} execArgv
 * @param {string | undefined} nodeOptions
 * @returns {string[] | undefined}
 */
export function workerLaunchFlags(execArgv, nodeOptions) {
  if (nodeOptions?.includes(SEMI_SPACE_FLAG) || execArgv.includes(WORKER_FLAG)) return undefined;
  return [...execArgv.filter((a) => !a.startsWith(SEMI_SPACE_FLAG)), WORKER_FLAG];
}
