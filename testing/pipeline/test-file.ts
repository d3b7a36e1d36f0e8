/**
 * Pipeline test files: `<name>.test.json` beside `<name>.json`. A separate file, not a
 * `tests` section in the pipeline, so the pipeline JSON stays what it deploys (its Git diff
 * shows only pipeline changes) and a test file can grow fixtures and recorded payloads
 * without touching it. The schema below is the one declaration of the format: it validates
 * the file (every error with its JSON path, as pipeline validation does) and types the runner.
 *
 *   { "pipeline": "hello-http.json",            // default: this file's name without .test
 *     "cases": [{ "name": "sums a request",
 *       "inputs":   [{ "node": "request", "payloads": [{ "x": [1, 2, 3] }] }],
 *       "fixtures": { "model": { "answer": { "label": 3 } } },
 *       "expect":   [{ "at": "tag.out", "payloads": [{ "sum": 6 }] },
 *                    { "deadLetters": { "node": "stats", "reason": "not a number" } }] }] }
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { z } from "zod";
import { ConfinedPathError, resolveConfined } from "../../runtime/confined-path";
import { jsonPath } from "../../runtime/validate";
import type { Problem } from "../test-node";

const portOrEdge = z.string().regex(/^[A-Za-z][\w-]*(\.[A-Za-z][\w-]*)?$/, 'must be an output port "node.port" or an edge id');

const input = z
  .strictObject({
    node: z.string().describe("The input node to replace by a feed with its output ports; its config is not used"),
    port: z.string().optional().describe("The output port to send on; default: the node's only output port"),
    payloads: z.array(z.unknown()).optional().describe("Payloads sent in order, each one's sync path finished before the next"),
    file: z.string().optional().describe("A JSONL file of payloads (one per line), relative to the test file's folder and confined to it"),
    repeat: z.number().int().min(1).max(1_000_000).default(1).describe("Send the payloads this many times over (a long stream without a long file)"),
  })
  .refine((i) => (i.payloads === undefined) !== (i.file === undefined), { message: 'give either "payloads" or "file"' });

const fixture = z
  .strictObject({
    answer: z.unknown().optional().describe("Emitted on `port` for every message the node receives (a model by a fixed answer)"),
    port: z.string().optional().describe("Where `answer` goes; default: the node's only output port"),
    emit: z.record(z.string(), z.array(z.unknown())).optional().describe("Payloads per output port, emitted once at start (a connector by a list)"),
  })
  .describe("Replaces the node for the test: same ports and types; with neither answer nor emit it absorbs what it receives");

const portExpectation = z
  .strictObject({
    at: portOrEdge.describe("An output port (`node.port`), whose messages every edge leaving it carries, or an edge's id (the messages its source port emits)"),
    payloads: z.array(z.unknown()).optional().describe("Exactly these payloads, in this order unless `order` is any"),
    order: z.enum(["exact", "any"]).default("exact"),
    tolerance: z.number().min(0).default(0).describe("Numbers within this of the expected one are equal"),
    count: z.number().int().min(0).optional(),
    nothing: z.literal(true).optional().describe("No message at all here"),
    every: z.string().optional().describe("A JSONata predicate every payload must satisfy ($ is the payload)"),
    some: z.string().optional().describe("A JSONata predicate at least one payload must satisfy"),
  })
  .refine((e) => [e.payloads, e.count, e.nothing, e.every, e.some].some((v) => v !== undefined), { message: "expects nothing: give payloads, count, nothing, every or some" });

const deadLetterExpectation = z.strictObject({
  deadLetters: z.strictObject({
    node: z.string().optional(),
    reason: z
      .string()
      .refine((r) => isRegExp(r), { message: "not a regular expression" })
      .optional()
      .describe("A regular expression the reason must match"),
    count: z.number().int().min(0).optional().describe("Exactly this many matching letters; default: at least one"),
  }),
});

const testCase = z.strictObject({
  name: z.string().min(1),
  inputs: z.array(input).default([]),
  fixtures: z.record(z.string(), fixture).default({}),
  expect: z.array(z.union([portExpectation, deadLetterExpectation])).min(1, "a case needs at least one expectation"),
  timeoutMs: z.number().int().min(1).max(600_000).default(10_000).describe("The case fails if the pipeline is still busy after this"),
  settleMs: z.number().int().min(0).max(60_000).optional().describe("Quiet time (no message anywhere) that ends the case; default 100 ms, 300 on NATS"),
});

export const pipelineTestFileSchema = z.strictObject({
  $schema: z.string().optional(),
  pipeline: z.string().optional().describe("The pipeline file, relative to this one; default: <name>.json for <name>.test.json"),
  cases: z.array(testCase).min(1),
});

function isRegExp(source: string): boolean {
  try {
    new RegExp(source);
    return true;
  } catch {
    return false;
  }
}

export type PipelineTestFile = z.output<typeof pipelineTestFileSchema>;
export type TestCase = PipelineTestFile["cases"][number];
export type PortExpectation = z.output<typeof portExpectation>;
export type DeadLetterExpectation = z.output<typeof deadLetterExpectation>;
export type Expectation = TestCase["expect"][number];

export const isDeadLetterExpectation = (e: Expectation): e is DeadLetterExpectation => "deadLetters" in e;

export interface LoadedTestFile {
  file: string;
  pipelineFile: string;
  tests: PipelineTestFile;
  /** The pipeline's JSON, as read (validated when the runner deploys it). */
  pipeline: unknown;
  /** JSONL inputs read from disk, by `cases[i].inputs[j]`. */
  filePayloads: Map<string, unknown[]>;
}

export class TestFileError extends Error {
  constructor(readonly file: string, readonly problems: Problem[]) {
    super(problems.map((p) => `${file}: ${p.path}: ${p.message}`).join("\n"));
  }
}

export const inputKey = (caseIndex: number, inputIndex: number) => `${caseIndex}/${inputIndex}`;

/**
 * Reads and checks a test file, its pipeline and its JSONL inputs; throws TestFileError with every problem.
 * `pipeline` given: the cases run against it instead of the file's pipeline (the editor tests what it deployed).
 */
export async function loadTestFile(file: string, pipeline?: unknown): Promise<LoadedTestFile> {
  const dir = path.dirname(path.resolve(file));
  const json = readJson(file, "$");
  const parsed = pipelineTestFileSchema.safeParse(json);
  if (!parsed.success) throw new TestFileError(file, parsed.error.issues.map((i) => ({ path: jsonPath(i.path), message: i.message })));
  const tests = parsed.data;
  const problems: Problem[] = [];
  const confined = async (p: string, at: PropertyKey[]) => {
    try {
      return await resolveConfined(dir, p, { mustExist: true });
    } catch (err) {
      if (!(err instanceof ConfinedPathError)) throw err;
      problems.push({ path: jsonPath(at), message: err.message });
      return undefined;
    }
  };
  const pipelineName = tests.pipeline ?? path.basename(file).replace(/\.test\.json$/, ".json");
  const pipelineFile = pipeline === undefined ? await confined(pipelineName, ["pipeline"]) : path.join(dir, pipelineName);
  const filePayloads = new Map<string, unknown[]>();
  for (const [c, testCase] of tests.cases.entries())
    for (const [i, inp] of testCase.inputs.entries()) {
      if (inp.file === undefined) continue;
      const at = ["cases", c, "inputs", i, "file"];
      const resolved = await confined(inp.file, at);
      if (resolved) filePayloads.set(inputKey(c, i), readJsonl(resolved, at, problems));
    }
  if (!pipelineFile || problems.length) throw new TestFileError(file, problems);
  return { file, pipelineFile, tests, pipeline: pipeline ?? readJson(pipelineFile, "pipeline", file), filePayloads };
}

function readJson(file: string, at: string, owner = file): unknown {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new TestFileError(owner, [{ path: at === "$" ? "$" : `$.${at}`, message: `cannot read ${file}: ${(err as Error).message}` }]);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new TestFileError(owner, [{ path: at === "$" ? "$" : `$.${at}`, message: `${file} is not JSON: ${(err as Error).message}` }]);
  }
}

function readJsonl(file: string, at: PropertyKey[], problems: Problem[]): unknown[] {
  const payloads: unknown[] = [];
  for (const [n, line] of readFileSync(file, "utf8").split("\n").entries()) {
    if (!line.trim()) continue;
    try {
      payloads.push(JSON.parse(line));
    } catch (err) {
      problems.push({ path: jsonPath(at), message: `line ${n + 1} is not JSON: ${(err as Error).message}` });
    }
  }
  return payloads;
}
