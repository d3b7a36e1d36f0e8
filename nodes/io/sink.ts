import { createWriteStream, mkdirSync, type WriteStream } from "node:fs";
import { dirname, resolve } from "node:path";
import { z } from "zod";
import { stringify } from "../../runtime/api/json";
import { defineNode } from "../../runtime/node-contract";
import { port } from "../../runtime/ports";

/** Writes every message it receives as one JSON line (envelope included), or discards it. */
export default defineNode({
  type: "io.sink",
  category: "io",
  title: "Sink",
  description: "Ends a stream: appends each message (envelope and payload) as a JSON line to a file, or discards it.",
  inputs: { in: port.any() },
  outputs: {},
  config: z.object({
    kind: z.enum(["jsonl", "discard"]).default("discard").describe("jsonl: append to a file; discard: drop (still counted and tapped)"),
    path: z.string().optional().describe("File for kind jsonl; relative to the node's data folder"),
  }).refine((c) => c.kind !== "jsonl" || c.path !== undefined, { message: "path is required when kind is jsonl", path: ["path"] }),
  create: (ctx, config) => {
    let out: WriteStream | undefined;
    let count = 0;
    if (config.kind === "jsonl") {
      const file = resolve(ctx.dataDir, config.path!);
      mkdirSync(dirname(file), { recursive: true });
      out = createWriteStream(file, { flags: "a" });
    }
    return {
      onMessage(_port, message) {
        count++;
        // Respect the stream's back-pressure so a slow disk slows the edge, not memory.
        if (out && !out.write(`${stringify(message)}\n`)) return new Promise<void>((r) => out!.once("drain", () => r()));
      },
      async stop() {
        if (out) await new Promise<void>((r) => out!.end(() => r()));
      },
      status: () => ({ written: count }),
    };
  },
});
