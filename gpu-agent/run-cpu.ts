/**
 * CPU seconds of one onnxruntime run, on the thread that runs it.
 *
 * onnxruntime-node runs a session synchronously inside a setImmediate callback it schedules
 * when `session.run` is called (onnxruntime-node/dist/backend.js; onnxruntime-common calls it
 * before its first await). Immediates run in the order they were scheduled, so one scheduled
 * just before the call and one just after bracket exactly that run, even when other requests'
 * runs interleave on the same event loop. The clock is this thread's own CPU time
 * (/proc/thread-self/schedstat, nanoseconds, a ~1.5 µs read of a file kept open): with the
 * agent's default of one intra-op thread the whole run is on this thread; with more, the
 * pool threads' share is not counted (said in gpu-agent/README.md). ort-worker.mjs, plain
 * JavaScript, carries the same few lines.
 */
import { openSync, readSync } from "node:fs";

let schedstat: number | undefined;
try {
  schedstat = openSync("/proc/thread-self/schedstat", "r");
} catch {
  schedstat = undefined; // not Linux: runs are not measured
}
const buffer = Buffer.alloc(128);

function threadCpuNs(): number {
  if (schedstat === undefined) return 0;
  const n = readSync(schedstat, buffer, 0, buffer.length, 0);
  return Number(buffer.toString("latin1", 0, n).split(" ", 1)[0]);
}

/** `start()` runs the session; resolves with its result and the CPU seconds the run took. */
export function measuredRun<T>(start: () => Promise<T>): Promise<{ result: T; cpuSeconds: number }> {
  return new Promise((resolve, reject) => {
    let from = 0;
    setImmediate(() => (from = threadCpuNs()));
    const running = start();
    setImmediate(() => {
      const cpuSeconds = (threadCpuNs() - from) / 1e9;
      running.then((result) => resolve({ result, cpuSeconds }), reject);
    });
  });
}
