// The worker thread where transform.function's code runs when its node asks for
// `isolation: "worker"` or its code ran into a limit on the runtime's thread
// (runtime/user-code/limited-function.ts). Its owner gives it a heap limit (resourceLimits)
// and terminates it past the deadline; the sandbox's own clock ends most runaways first.
// Emits and logs are collected and sent back with the result and the new state. One job at a time.
import { setPriority } from "node:os";
import { parentPort } from "node:worker_threads";

try {
  setPriority(0, 19); // a runaway here takes the CPU from no request the runtime's thread serves
} catch {
  // not on this platform
}
const { compileFunction, describe } = await import("./function-sandbox.mjs");

const compiled = new Map(); // code + libs -> compiled function; a worker serves few

parentPort.on("message", async ({ id, code, libs, requireFrom, payload, state, limits }) => {
  const emits = [];
  const logs = [];
  try {
    const key = JSON.stringify([code, libs]);
    let fn = compiled.get(key);
    if (!fn) compiled.set(key, (fn = compileFunction(code, { libs, requireFrom })));
    const sandboxState = fn.makeState(state);
    const hooks = { emit: async (port, p) => void emits.push([port, p]), log: (level, text) => void logs.push([level, text]) };
    const value = await fn.run(payload, sandboxState, hooks, limits);
    parentPort.postMessage({ id, ok: true, value: { value, state: fn.readState(sandboxState), emits, logs } });
  } catch (err) {
    try {
      parentPort.postMessage({ id, ok: false, message: describe(err), limit: err?.limit });
    } catch {
      parentPort.postMessage({ id, ok: false, message: "the function's error cannot leave its worker" });
    }
  }
});
parentPort.postMessage({ ready: true });
