import { createReadStream } from "node:fs";
import { createInterface } from "node:readline";
import { z } from "zod";
import { configPath, defineNode, port } from "../../sdk";
import { seededRandom } from "../../sdk/random";

const synthetic = z.object({
  kind: z.literal("synthetic"),
  count: z.number().int().min(1).max(1_000_000_000).default(1000).describe("Messages to emit (at most 1,000,000,000)"),
  features: z.number().int().min(1).max(1_000_000).default(4).describe("Numbers per message in `x` (at most 1,000,000)"),
  seed: z.number().int().default(1).describe("Seed of the generator, for reproducible streams"),
  shiftAt: z.number().int().min(0).max(1_000_000_000).optional().describe("Index from which the mean of `x` shifts by `shift` (a drift to detect) (at most 1,000,000,000)"),
  shift: z.number().default(1),
  shiftFeatures: z.array(z.number().int().min(0).max(1_000_000)).max(1_000_000).optional().describe("Indexes of the features of `x` that shift (all when absent), to plant a shift in one feature while the others stay (indexes at most 1,000,000)"),
});
const file = z.object({
  kind: z.enum(["jsonl", "csv"]),
  path: configPath({ kind: "file", describe: "File to read" }),
  loop: z.boolean().default(false).describe("Start again at the end of the file"),
});

function gaussian(random: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
}

/** `realPath` is `source.path` as ctx.resolvePath found it. */
async function* records(source: z.output<typeof file>, realPath: string): AsyncGenerator<unknown> {
  do {
    const lines = createInterface({ input: createReadStream(realPath), crlfDelay: Infinity });
    let header: string[] | undefined;
    let lineNo = 0;
    for await (const line of lines) {
      lineNo++;
      if (line.trim() === "") continue;
      if (source.kind === "jsonl") {
        try {
          yield JSON.parse(line);
        } catch {
          throw new Error(`${source.path}:${lineNo}: not JSON`);
        }
        continue;
      }
      // CSV: a header row, then numbers where they parse. Quoted commas are not supported.
      const cells = line.split(",").map((c) => c.trim());
      if (!header) header = cells;
      else yield Object.fromEntries(header.map((h, i) => [h, cells[i] !== "" && !Number.isNaN(Number(cells[i])) ? Number(cells[i]) : cells[i]]));
    }
  } while (source.loop);
}

export default defineNode({
  type: "io.generator",
  category: "io",
  title: "Generator",
  description: "Emits a stream at a given rate: records from a JSONL or CSV file, or a seeded synthetic stream of `{i, x: number[]}` with an optional mean shift.",
  inputs: {},
  outputs: { out: port.record() },
  config: z.object({
    source: z.discriminatedUnion("kind", [synthetic, file]).default({ kind: "synthetic", count: 1000, features: 4, seed: 1, shift: 1 }),
    rate: z.number().min(0).default(0).describe("Messages per second; 0 emits as fast as the edges accept"),
  }),
  create: (ctx, config) => {
    let emitted = 0;
    let done = false;
    let error: string | undefined;
    async function* stream(): AsyncGenerator<unknown> {
      const src = config.source;
      if (src.kind !== "synthetic") return yield* records(src, await ctx.resolvePath(src.path, { mustExist: true }));
      const random = seededRandom(src.seed);
      for (let i = 0; i < src.count; i++) {
        const shifted = src.shiftAt !== undefined && i >= src.shiftAt;
        yield { i, x: Array.from({ length: src.features }, (_, f) => (shifted && (src.shiftFeatures?.includes(f) ?? true) ? src.shift : 0) + gaussian(random)) };
      }
    }
    return {
      start(emit) {
        // Runs in the background: start() returns so the pipeline finishes deploying.
        void (async () => {
          const started = performance.now();
          try {
            for await (const record of stream()) {
              if (ctx.signal.aborted) break;
              if (config.rate > 0) {
                const due = started + (emitted / config.rate) * 1000;
                const wait = due - performance.now();
                if (wait > 1) await new Promise((r) => setTimeout(r, wait));
              }
              await emit("out", record).catch(() => undefined); // downstream failures are dead-lettered there
              emitted++;
            }
          } catch (err) {
            error = (err as Error).message;
            ctx.log("error", `generator stopped: ${error}`);
          }
          done = true;
        })();
      },
      status: () => ({ emitted, done, ...(error && { error }) }),
    };
  },
});
