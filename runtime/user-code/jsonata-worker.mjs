// The worker thread where a JSONata evaluation continues when it ran over its time on the
// runtime's thread, or needs the backtracking regexp engine (runtime/user-code/limited-jsonata.ts).
// The hooks' clock ends most runaways here; its owner gives it a heap limit (resourceLimits) and
// terminates it shortly after the deadline, which also stops a builtin or a regexp that no hook
// sees. One job at a time.
import { execFile } from "node:child_process";
import { readlinkSync } from "node:fs";
import { setPriority } from "node:os";
import { parentPort } from "node:worker_threads";

// The lowest priority, before anything else (Linux applies it to this thread only, and lowering
// needs no privilege): a runaway burning this thread's core for its whole time limit, or a
// replacement worker loading jsonata, takes the CPU from no request the runtime's own thread is
// serving. Its start-up is not charged to any job's time.
try {
  setPriority(0, 19);
} catch {
  // not on this platform
}
// Then Linux's idle class (SCHED_IDLE), where the kernel allows it: nice 19 still has a weight
// (15 against 1024), so a request's thread waking on a core this worker holds waited for it, and
// a neighbour pipeline's p50 doubled during runaways (bench/runaway-neighbour.ts). One `chrt`
// per worker start (workers start rarely); where it fails, nice 19 stays.
try {
  const tid = readlinkSync("/proc/thread-self").split("/").pop();
  execFile("chrt", ["--idle", "--pid", "0", tid], () => {});
} catch {
  // no /proc (not Linux)
}
const { asLimitError, compileLimited } = await import("./jsonata-core.mjs");

const compiled = new Map(); // source -> compiled expression; a worker serves few

parentPort.on("message", async ({ id, source, input, bindings, limits }) => {
  try {
    let expression = compiled.get(source);
    if (!expression) compiled.set(source, (expression = compileLimited(source)));
    const value = await expression.evaluate(input, bindings, limits);
    try {
      parentPort.postMessage({ id, ok: true, value });
    } catch (err) {
      parentPort.postMessage({ id, ok: false, message: `JSONata result cannot leave the expression: ${err.message}` });
    }
  } catch (thrown) {
    const err = asLimitError(thrown);
    parentPort.postMessage({ id, ok: false, message: err?.message ?? String(err), limit: err?.limit });
  }
});
parentPort.postMessage({ ready: true });
