/**
 * python.function: each payload through a Python function, `process(payload, ctx)`, in the
 * runtime's long-lived Python workers (python/pool.ts, never a process per message). Tensors
 * arrive as numpy arrays with their dtype and shape, bytes as `bytes`, records as dicts; a
 * returned numpy array leaves as a tensor.
 *
 * State: `ctx.state` is a dict kept by the worker process between calls. With `workers: 1` (the
 * default) it is the node's state, seeing every message in order; with more, each worker keeps
 * its own (messages go to whichever is free), so state that must see every message needs one
 * worker. A worker replaced after a crash or a time limit starts with an empty `ctx.state`.
 */
import { configPath, defineNode, port, PythonError, z, type PythonPoolStatus } from "../../sdk";
import { python } from "../services";

/** As JSONata's: long enough for per-message feature code, short enough that a stuck function is ended soon. */
const DEFAULT_TIMEOUT_MS = 1000;
const MAX_TIMEOUT_MS = 60_000;

export default defineNode({
  type: "python.function",
  category: "transform",
  title: "Python function",
  icon: "py",
  description:
    "Runs each payload through a Python function `process(payload, ctx)` from a module in the data folder or inline code, in long-lived python3 workers. It returns the payload to emit, a list (one message each) or None (nothing). Tensors arrive as numpy arrays (dtype and shape kept), records as dicts; `ctx.state` is a dict that persists in the worker. An exception, a worker that dies, or a call over the time limit sends the message to the dead letters with the traceback or the limit; a dead or stuck worker is replaced and the node serves on. A module that fails to import is reported at deploy. Needs the `exec` capability.",
  example: {
    config: { code: "def process(payload, ctx):\n    return {**payload, 'total': sum(payload['values'])}" },
    input: { values: [1, 2, 3] },
    output: { values: [1, 2, 3], total: 6 },
  },
  inputs: { in: port.any() },
  outputs: { out: port.any() },
  config: z
    .object({
      module: configPath({ kind: "file", describe: "Python file that defines the function" }).optional(),
      // Edited with Python highlighting (editor/src/CodeField.tsx); its syntax is checked by the worker at deploy.
      code: z.string().min(1).meta({ format: "code", language: "python" }).optional().describe("Python code that defines the function, instead of a module"),
      function: z
        .string()
        .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "a Python function name")
        .default("process")
        .describe("The function called with (payload, ctx)"),
      workers: z.number().int().min(1).max(32).default(1).describe("Python processes serving this node; ctx.state is per worker"),
      // The bounds of JSONata's timeoutMs (runtime/user-code/limited-jsonata.ts): one shared field once the user-code limits move into the SDK.
      timeoutMs: z.number().int().min(1).max(MAX_TIMEOUT_MS).default(DEFAULT_TIMEOUT_MS).describe("Time limit of one call, ms: past it the worker is killed and replaced, and the message goes to the dead letters"),
    })
    .refine((c) => (c.module === undefined) !== (c.code === undefined), { message: "give either module (a file) or code, not both nor neither" }),
  capabilities: ["exec"],
  services: [python],
  create: async (ctx, config) => {
    const source = config.module !== undefined ? { file: await ctx.resolvePath(config.module, { mustExist: true }) } : { code: config.code!, filename: `<${ctx.nodeId}>` };
    const pool = ctx.service(python).pool({
      source,
      function: config.function,
      workers: config.workers,
      timeoutMs: config.timeoutMs,
      pipeline: ctx.pipeline,
      node: ctx.nodeId,
      log: (level, line) => ctx.log(level, `python: ${line}`),
    });
    // Loads the module in every worker now, so a missing import fails the deploy, naming the module.
    await pool.start();
    return {
      async onMessage(_port, message, emit) {
        let value: unknown;
        try {
          const result = await pool.call(message.payload);
          value = result.value;
          // The worker's CPU is in its own process: charged to this node beside what the engine measures here.
          if (result.cpuSeconds) ctx.accountCpu?.(result.cpuSeconds);
        } catch (err) {
          if (err instanceof PythonError && err.traceback) throw new Error(`${err.message}\n${err.traceback}`, { cause: err });
          throw err;
        }
        if (value === undefined) return;
        const payloads = Array.isArray(value) ? value.filter((v) => v !== undefined && v !== null) : [value];
        await Promise.all(payloads.map((p) => emit("out", p)));
      },
      stop: () => pool.close(),
      status: () => ({ ...withStatusLine(pool.status()) }),
    };
  },
});

/**
 * The pool's figures and the line the editor shows under the node (as a hosted Node-RED node's
 * `node.status`): workers up, restarts and the last failure's first line; red while the last call
 * failed, a yellow ring while a worker is starting or being replaced.
 */
function withStatusLine(status: PythonPoolStatus): PythonPoolStatus & { fill: string; shape: string; text: string } {
  const parts = [`${status.up}/${status.workers} up`];
  if (status.restarts > 0) parts.push(`${status.restarts} restart${status.restarts === 1 ? "" : "s"}`);
  const failure = status.lastError?.split("\n")[0];
  if (failure) parts.push(failure.length > 80 ? `${failure.slice(0, 79)}…` : failure);
  const starting = status.up < status.workers;
  return { ...status, fill: failure ? "red" : starting ? "yellow" : "green", shape: starting && !failure ? "ring" : "dot", text: parts.join(" · ") };
}
