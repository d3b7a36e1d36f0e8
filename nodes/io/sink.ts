import { z } from "zod";
import { stringify } from "../../sdk/json";
import { configPath, defineNode, port } from "../../sdk";
import { RotatingFile } from "./rotating-file";

const TB = 1e12;
const rotation = z
  .object({
    maxBytes: z.number().int().min(1024).max(TB).optional().describe("Close the file once it holds this many bytes"),
    maxSeconds: z.number().min(1).max(366 * 86_400).optional().describe("Close the file once it has been open this long (checked at each write)"),
    keep: z.number().int().min(0).max(100_000).optional().describe("Closed files kept; the oldest are removed"),
    maxTotalBytes: z.number().int().min(0).max(TB).optional().describe("Disk budget of all closed files together; the oldest are removed"),
    compress: z.boolean().default(false).describe("Gzip each file once it is closed"),
  })
  .strict()
  .refine((r) => r.maxBytes !== undefined || r.maxSeconds !== undefined, { message: "rotate needs maxBytes or maxSeconds" });

/** Writes every message it receives as one JSON line (envelope included), or discards it. */
export default defineNode({
  type: "io.sink",
  category: "io",
  title: "Sink",
  description:
    "Ends a stream: appends each message (envelope and payload) as a JSON line to a file in the pipeline's data folder, or discards it. With `rotate`, the file is closed and renamed `<name>.<time closed>.jsonl` (gzipped if asked) by size or age, and old files are removed past a count or a disk budget. A message counts as handled once its line is on disk; a failed write (disk full) dead-letters it with the reason and shows in the status.",
  inputs: { in: port.any() },
  outputs: {},
  capabilities: ["fs-write"],
  config: z
    .object({
      kind: z.enum(["jsonl", "discard"]).default("discard").describe("jsonl: append to a file; discard: drop (still counted and tapped)"),
      path: configPath({ kind: "file", access: "write", describe: "File for kind jsonl" }).optional(),
      rotate: rotation.optional().describe("When to start a new file, and which old ones to keep (kind jsonl)"),
    })
    .refine((c) => c.kind !== "jsonl" || c.path !== undefined, { message: "path is required when kind is jsonl", path: ["path"] }),
  create: (ctx, config) => {
    let count = 0;
    // Opened at the first message through ctx.resolvePath, and again at every reopen: a path that
    // leaves the data folder (a symlink planted since deploy) fails those lines, not the node.
    const file = config.kind === "jsonl" ? new RotatingFile(config.path!, (p) => ctx.resolvePath(p, { forWrite: true }), config.rotate) : undefined;
    return {
      // The promise holds the edge until the line is written: a slow disk slows the stream, not memory.
      onMessage(_port, message) {
        if (!file) return void count++;
        return file.append(`${stringify(message)}\n`).then(() => void count++);
      },
      stop: () => file?.close(),
      status: () => (file ? { written: count, rotations: file.rotations, ...(file.lastError ? { error: file.lastError } : {}) } : { written: count }),
    };
  },
});
