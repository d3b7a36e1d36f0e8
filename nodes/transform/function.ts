import { mkdir, readFile } from "node:fs/promises";
import path from "node:path";
import { z } from "zod";
import { defineNode, port, type Emit, type Ports } from "../../sdk";
import { replaceFile } from "../../sdk/replace-file";
import { javascriptCode, timeoutMsField, userCode } from "../../sdk/user-code";

const portName = z.string().regex(/^[A-Za-z][A-Za-z0-9_-]*$/, "a port name: a letter, then letters, digits, _ or -");

const EXAMPLE = `// payload: this message's payload; ctx.state survives between messages
ctx.state.count = (ctx.state.count ?? 0) + 1;
if (payload.score > 0.9) await ctx.emit("alert", { ...payload, seen: ctx.state.count });
return { ...payload, seen: ctx.state.count };`;

/** A returned value goes to the first output; undefined and null send nothing. */
function send(emit: Emit, port: string, value: unknown): void {
  if (value !== undefined && value !== null) void emit(port, value); // the engine waits for emits the node does not await
}

export default defineNode({
  type: "transform.function",
  category: "transform",
  title: "JavaScript function",
  description: [
    "Runs your JavaScript on each message, like Node-RED's function node. The code is the body of an async function of `payload` and `ctx`:",
    "`ctx.state` is an object that survives between messages (and restarts: it is saved in the node's data folder when the pipeline stops),",
    "`ctx.emit(port, payload)` sends on any of the node's `outputs`, `ctx.log(...)` (and `ctx.log.warn`, `.error`, `.debug`) writes to the runtime's log.",
    "Returning a value sends it on the first output; returning `undefined` or `null` sends nothing; an array is one payload (use `ctx.emit` to send several messages).",
    "Each run has a time limit (`timeoutMs`: a loop that never ends or a promise that never settles) and a memory limit; one that trips sends the message to the dead letters with the limit named.",
    "The code sees no `require`, `process`, file system or `import()`; with `libs` it may `require` those installed packages, and the node then needs the `exec` capability.",
    `Example (outputs: ["out", "alert"]):\n\n\`\`\`js\n${EXAMPLE}\n\`\`\``,
  ].join(" "),
  inputs: { in: port.any() },
  outputs: (config) => Object.fromEntries(config.outputs.map((name) => [name, port.any()])) as Ports,
  config: z.object({
    code: javascriptCode.default("return payload;").describe("Body of `async (payload, ctx) => { ... }`"),
    outputs: z
      .array(portName)
      .min(1)
      .refine((names) => new Set(names).size === names.length, "output names must differ")
      .default(["out"])
      .describe("Output ports; a returned value goes to the first"),
    libs: z.array(z.string().min(1)).default([]).describe("Installed packages the code may require (needs the exec capability)"),
    timeoutMs: timeoutMsField,
    memoryMb: z.number().int().min(8).max(1024).default(128).describe("Heap one run may add, MB: a run allocating more goes to the dead letters"),
    isolation: z
      .enum(["inline", "worker"])
      .default("inline")
      .describe("inline: on the runtime's thread (fast; a runaway holds it up to timeoutMs once, then the node moves to a worker); worker: always in a worker thread with a hard heap limit"),
  }),
  capabilities: (config) => (config.libs.length > 0 ? ["exec"] : []),
  services: [userCode],
  create: async (ctx, config) => {
    const stateFile = path.join(ctx.dataDir, "state.json");
    const saved = await readFile(stateFile, "utf8").then((text) => JSON.parse(text) as Record<string, unknown>, () => undefined);
    let fn;
    try {
      fn = ctx.service(userCode).javascript(config.code, { ...config, log: (level, text) => ctx.log(level, text) }, saved);
    } catch (err) {
      throw new Error(`transform.function "${ctx.nodeId}": ${(err as Error).message}`);
    }
    const first = config.outputs[0];
    return {
      // No closure per message: a hop of a chain costs a microsecond or two.
      onMessage(_port, message, emit) {
        const result = fn.run(message.payload, emit);
        if (result instanceof Promise) return result.then((value) => send(emit, first, value));
        send(emit, first, result);
      },
      async stop() {
        await mkdir(ctx.dataDir, { recursive: true });
        await replaceFile(stateFile, JSON.stringify(fn.state()));
      },
    };
  },
});
