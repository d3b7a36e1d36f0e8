/**
 * `evoflow drift <method> [--<param> value ...] [--reference FILE] [FILE|-]`: runs a
 * drift detector offline over a file (or stdin) and prints one JSON line per
 * detection, with the 0-based index of the value that revealed it. Usable in CI on
 * a dataset (`--fail-on-drift` sets exit code 1 when anything drifted).
 *
 * It runs the very node the pipelines run (`drift.<method>`), fed one message per
 * input row, so parameters, defaults and detections are the node's: parameters are
 * the node's config fields, in camelCase or kebab-case (`--min-window-length 5`),
 * checked by its schema.
 *
 * Input: one number per line, or CSV (a header row when the first row is not all
 * numbers). `--column a,b` picks columns by name or 0-based index; streaming
 * detectors need exactly one. Two-sample methods (ks, chi-square, psi, wasserstein,
 * mmd) take the reference from `--reference FILE` (then, unless `--window` is
 * given, the whole input is one window), or else from the first `--reference-size`
 * rows, as the node does.
 */
import { createReadStream, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { createInterface } from "node:readline";
import cliProgress from "cli-progress";
import type { Command } from "commander";
import type { CommandHost } from "../../sdk/extensions";
import { registerEval } from "./evaluate-cli";
import { driftNodes } from "./index";
import type { DriftEvent } from "./event";
import { createMessage } from "../../sdk/envelope";
import type { NodeContext, NodeDefinition } from "../../sdk/contract";

type Cell = number | string;

const STREAMING = new Set(["adwin", "ddm", "eddm", "hddm-a", "kswin", "page-hinkley"]);

class UsageError extends Error {}

/** `--name value` / `--name=value` pairs and positionals, from what commander left unparsed. */
function splitArgs(args: string[]): { positionals: string[]; params: Record<string, string> } {
  const positionals: string[] = [];
  const params: Record<string, string> = {};
  for (let i = 0; i < args.length; i++) {
    const token = args[i];
    if (!token.startsWith("--")) {
      positionals.push(token);
      continue;
    }
    const eq = token.indexOf("=");
    const name = eq > 0 ? token.slice(2, eq) : token.slice(2);
    let value = eq > 0 ? token.slice(eq + 1) : args[i + 1];
    if (eq < 0) {
      if (value === undefined || value.startsWith("--")) throw new UsageError(`--${name} needs a value`);
      i++;
    }
    params[name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase())] = value;
  }
  return { positionals, params };
}

/** Numbers, booleans and JSON arrays as such; anything else as a string. */
function parseValue(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}

const parseCell = (cell: string): Cell => (cell !== "" && !Number.isNaN(Number(cell)) ? Number(cell) : cell);

/** Rows of a file (or stdin for "-"), with a progress bar on a terminal. */
async function* readRows(file: string, onHeader: (header: string[]) => void): AsyncGenerator<Cell[]> {
  const input = file === "-" ? process.stdin : createReadStream(file);
  let bar: cliProgress.SingleBar | undefined;
  if (file !== "-" && process.stderr.isTTY) {
    bar = new cliProgress.SingleBar({ stream: process.stderr, format: "{bar} {percentage}% | {value}/{total} bytes" }, cliProgress.Presets.shades_classic);
    bar.start(statSync(file).size, 0);
  }
  let bytes = 0;
  let lines = 0;
  let first = true;
  try {
    for await (const line of createInterface({ input, crlfDelay: Infinity })) {
      bytes += Buffer.byteLength(line) + 1;
      if (bar && ++lines % 10_000 === 0) bar.update(bytes);
      if (line.trim() === "") continue;
      const cells = line.split(",").map((c) => parseCell(c.trim()));
      if (first && cells.some((c) => typeof c === "string")) onHeader(cells.map(String));
      else yield cells;
      first = false;
    }
  } finally {
    bar?.update(bytes);
    bar?.stop();
  }
}

function columnIndexes(spec: string | undefined, header: string[] | undefined): number[] | undefined {
  if (!spec) return undefined;
  return spec.split(",").map((name) => {
    const byName = header?.indexOf(name) ?? -1;
    if (byName >= 0) return byName;
    if (/^\d+$/.test(name)) return Number(name);
    throw new UsageError(`no column "${name}"${header ? ` (columns: ${header.join(", ")})` : ""}`);
  });
}

function nodeContext(method: string): NodeContext {
  return {
    pipeline: "cli",
    nodeId: method,
    dataDir: tmpdir(),
    log: (level, message) => process.stderr.write(`${level}: ${message}\n`),
    registerEntrypoint: () => undefined,
    // Drift detectors name no files; the command reads its own --file.
    resolvePath: (path) => Promise.reject(new Error(`the drift command opens no config paths ("${path}")`)),
    secret: () => Promise.reject(new Error("drift detectors hold no secrets")),
    service: (name) => {
      throw new Error(`the drift command provides no "${name}" service`);
    },
    deadLetter: (_payload, reason) => Promise.reject(new Error(`the drift command keeps no dead letters (${reason})`)),
    signal: new AbortController().signal,
  };
}

/** Runs the detector; calls `report` for each drift; returns how many values were read. */
export async function runDrift(
  method: string,
  rawParams: Record<string, string>,
  options: { file: string; reference?: string; column?: string },
  report: (event: DriftEvent) => void,
): Promise<number> {
  const def: NodeDefinition | undefined = driftNodes.find((d) => d.type === `drift.${method}`);
  if (!def) throw new UsageError(`unknown method "${method}"; methods: ${driftNodes.map((d) => d.type.slice(6)).join(", ")}`);
  const streaming = STREAMING.has(method);
  if (streaming && options.reference !== undefined) throw new UsageError(`--reference is for two-sample methods; ${method} learns its reference from the stream`);
  const params: Record<string, unknown> = Object.fromEntries(Object.entries(rawParams).map(([k, v]) => [k, parseValue(v)]));

  let header: string[] | undefined;
  let columns: number[] | undefined;
  const pick = (cells: Cell[]): Cell[] => {
    columns ??= columnIndexes(options.column, header);
    if (!columns) return cells;
    return columns.map((i) => {
      if (i >= cells.length) throw new UsageError(`row has no column ${i}`);
      return cells[i];
    });
  };

  if (!streaming && options.reference !== undefined) {
    const reference: Cell[][] = [];
    for await (const row of readRows(options.reference, (h) => (header = h))) reference.push(pick(row));
    params.reference = reference;
    columns = undefined; // the input file has its own header
    header = undefined;
  }

  // Two-sample methods read everything first: with a reference file and no window, the input is one window.
  let rows: AsyncIterable<Cell[]> | Cell[][] = readRows(options.file, (h) => (header = h));
  if (!streaming && params.reference !== undefined && params.window === undefined) {
    const all: Cell[][] = [];
    for await (const row of rows) all.push(row);
    params.window = Math.max(2, all.length);
    rows = all;
  }

  const parsed = def.config.safeParse(params);
  if (!parsed.success)
    throw new UsageError(parsed.error.issues.map((i) => `--${i.path.join(".") || "(parameters)"}: ${i.message}`).join("\n"));
  const instance = await def.create(nodeContext(method), parsed.data);
  const emit = async (port: string, payload: unknown) => {
    if (port === "drift") report(payload as DriftEvent);
    return [];
  };
  const source = { pipeline: "cli", node: "input", port: "out" };
  let count = 0;
  for await (const row of rows) {
    const cells = pick(row);
    if (streaming && cells.length !== 1) throw new UsageError(`${method} watches one value per row; pick a column with --column (row ${count} has ${cells.length})`);
    const message = createMessage(source, streaming ? cells[0] : cells);
    try {
      await instance.onMessage?.("in", message, emit);
    } catch (err) {
      throw new UsageError(`row ${count}: ${(err as Error).message}`);
    }
    count++;
  }
  await instance.stop?.();
  return count;
}

export default function register(program: Command, host: CommandHost): void {
  const drift = program
    .command("drift")
    .description("run a drift detector offline over numbers (one per line) or CSV columns; prints one JSON line per detection")
    .argument("<method>", "adwin, ddm, eddm, hddm-a, kswin, page-hinkley, ks, chi-square, psi, wasserstein, mmd")
    .argument("[file]", "input file, or - for stdin (the default)")
    .option("--reference <file>", "reference sample for two-sample methods")
    .option("--column <names>", "columns to use, by header name or 0-based index, comma-separated")
    .option("--fail-on-drift", "exit with code 1 when a drift is detected")
    .allowUnknownOption()
    .allowExcessArguments()
    .addHelpText(
      "after",
      "\nDetector parameters are the node's config fields: `evoflow nodes` lists them, e.g.\n  evoflow drift adwin --delta 0.01 errors.txt\n  evoflow drift ks --reference train.csv --column age,income prod.csv",
    )
    .action(async function (this: Command, _method: string, _file: string | undefined, opts: { reference?: string; column?: string; failOnDrift?: boolean }) {
      let drifts = 0;
      try {
        const { positionals, params } = splitArgs(this.args);
        const [method, file = "-", ...extra] = positionals;
        if (extra.length) throw new UsageError(`unexpected arguments: ${extra.join(" ")}`);
        await runDrift(method, params, { file, reference: opts.reference, column: opts.column }, (event) => {
          drifts++;
          const { index, ...rest } = event;
          process.stdout.write(`${JSON.stringify({ index, ...rest })}\n`);
        });
        process.exitCode = opts.failOnDrift && drifts > 0 ? 1 : 0;
      } catch (err) {
        process.stderr.write(`evoflow drift: ${(err as Error).message}\n`);
        process.exitCode = 2;
      }
    });
  registerEval(drift, host);
}
