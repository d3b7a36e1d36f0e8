import { open } from "node:fs/promises";
import type { WriteStream } from "node:fs";
import { z } from "zod";
import { stringify } from "../../sdk/json";
import { configPath, defineNode, port } from "../../sdk";

/** Writes every message it receives as one JSON line (envelope included), or discards it. */
export default defineNode({
  type: "io.sink",
  category: "io",
  title: "Sink",
  description: "Ends a stream: appends each message (envelope and payload) as a JSON line to a file in the pipeline's data folder, or discards it.",
  inputs: { in: port.any() },
  outputs: {},
  capabilities: ["fs-write"],
  config: z.object({
    kind: z.enum(["jsonl", "discard"]).default("discard").describe("jsonl: append to a file; discard: drop (still counted and tapped)"),
    path: configPath({ kind: "file", access: "write", describe: "File for kind jsonl" }).optional(),
  }).refine((c) => c.kind !== "jsonl" || c.path !== undefined, { message: "path is required when kind is jsonl", path: ["path"] }),
  create: (ctx, config) => {
    let out: WriteStream | undefined;
    let opening: Promise<WriteStream> | undefined;
    let failed: Error | undefined;
    let count = 0;
    /**
     * Opened with the first message, through ctx.resolvePath: a path that leaves the data
     * folder (a symlink planted since deploy) dead-letters that message, and the next one
     * tries again rather than the node staying broken.
     */
    const openStream = (file: string) =>
      (opening ??= ctx
        .resolvePath(file, { forWrite: true })
        .then(async (real) => {
          out = (await open(real, "a")).createWriteStream();
          out.on("error", (err) => (failed = err));
          return out;
        })
        .finally(() => (opening = undefined)));
    const write = (s: WriteStream, line: string): void | Promise<void> => {
      count++;
      // Respect the stream's back-pressure so a slow disk slows the edge, not memory.
      if (!s.write(line)) return new Promise<void>((r) => s.once("drain", () => r()));
    };
    return {
      onMessage(_port, message) {
        if (config.kind !== "jsonl") return void count++;
        if (failed) {
          // A write failed (disk full, file removed…): this message says why, the next one reopens.
          const err = failed;
          (failed = undefined), (out = undefined);
          throw err;
        }
        const line = `${stringify(message)}\n`;
        return out ? write(out, line) : openStream(config.path!).then((s) => write(s, line));
      },
      async stop() {
        await opening?.catch(() => undefined);
        if (out) await new Promise<void>((r) => out!.end(() => r()));
      },
      status: () => ({ written: count }),
    };
  },
});
