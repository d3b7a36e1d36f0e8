/**
 * Runs pipeline test files (test-file.ts) on a real Runtime: each case deploys its own copy of
 * the pipeline (test-pipeline.ts) in a fresh data folder, sends its inputs, waits until the
 * pipeline is quiet (async edges drained and no node emitting for `settleMs`), then judges what
 * the observed ports carried and which dead letters were written (expectations.ts).
 * The transport is the in-process one, or one a caller makes per case (`evoflow test --nats`).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { NodeTypes } from "../../runtime/node-types";
import { PipelineInvalidError, Runtime } from "../../runtime/runtime";
import { createServices } from "../../runtime/services";
import type { Transport } from "../../runtime/transport/transport";
import type { RunningPipeline } from "../../runtime/engine/engine";
import { NodeError } from "../../sdk/errors";
import { judge } from "./expectations";
import { buildCase, type BuiltCase } from "./test-pipeline";
import { loadTestFile, TestFileError, type LoadedTestFile } from "./test-file";

export interface CaseResult {
  name: string;
  ms: number;
  /** Failed expectations, each a readable text with its diff. */
  failures: string[];
  /** The case could not run: an invalid case or pipeline, a deploy refused, a timeout. */
  error?: string;
}

export interface FileResult {
  file: string;
  pipeline?: string;
  ms: number;
  cases: CaseResult[];
  /** The file itself could not be read or is invalid: no case ran. */
  error?: string;
}

export interface RunOptions {
  nodeTypes: NodeTypes;
  /** A fresh transport per case (closed with its runtime); the in-process one when absent. */
  transport?: () => Promise<Transport>;
  /** Appended to the pipeline's name per case, so cases on a shared broker never read each other's streams. */
  uniqueNames?: boolean;
  /** Called as each case ends (the CLI prints it at once). */
  onCase?: (file: string, result: CaseResult) => void;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function runTestFile(file: string, options: RunOptions): Promise<FileResult> {
  const started = performance.now();
  let loaded: LoadedTestFile;
  try {
    loaded = await loadTestFile(file);
  } catch (err) {
    if (!(err instanceof TestFileError)) throw err;
    return { file, ms: performance.now() - started, cases: [], error: err.message };
  }
  const cases: CaseResult[] = [];
  for (const c of loaded.tests.cases.keys()) {
    const result = await runCase(loaded, c, options);
    cases.push(result);
    options.onCase?.(file, result);
  }
  const pipeline = (loaded.pipeline as { name?: string }).name;
  return { file, pipeline, ms: performance.now() - started, cases };
}

async function runCase(loaded: LoadedTestFile, c: number, options: RunOptions): Promise<CaseResult> {
  const testCase = loaded.tests.cases[c];
  const started = performance.now();
  const done = (fields: Partial<CaseResult>): CaseResult => ({ name: testCase.name, ms: performance.now() - started, failures: [], ...fields });
  const { built, problems } = buildCase(loaded, c, options.nodeTypes);
  if (!built) return done({ error: problems.map((p) => `${p.path}: ${p.message}`).join("\n") });
  // Cut so the suffix never takes the name past its 128 characters.
  if (options.uniqueNames) built.pipeline.name = `${String(built.pipeline.name).slice(0, 100)}-t${Date.now().toString(36)}${c}`;

  const dataDir = mkdtempSync(path.join(tmpdir(), "evoflow-test-"));
  let runtime: Runtime | undefined;
  try {
    runtime = new Runtime({
      ...(options.transport && { transport: await options.transport() }),
      nodeTypes: built.nodeTypes,
      dataDir,
      services: await createServices({ dataDir, packages: built.nodeTypes.packages }),
      log: () => {},
    });
    let running: RunningPipeline;
    try {
      running = await runtime.deploy(built.pipeline);
    } catch (err) {
      if (!(err instanceof PipelineInvalidError)) throw err;
      return done({ error: `the test pipeline did not deploy:\n${err.problems.map((p) => `${p.path}: ${p.message}`).join("\n")}` });
    }
    const settleMs = testCase.settleMs ?? (options.transport ? 300 : 100);
    const quiet = await within(testCase.timeoutMs, async (deadline) => {
      await send(built);
      return settle(running, settleMs, deadline);
    });
    if (!quiet) return done({ error: `still busy after ${testCase.timeoutMs} ms (timeoutMs): a source that never ends needs a fixture` });
    const payloadsAt = (at: string) => built.captured.all(built.captureOf.get(at)!).map((m) => m.payload);
    return done({ failures: await judge(testCase.expect, payloadsAt, running.deadLetters.toArray()) });
  } catch (err) {
    return done({ error: (err as Error).stack ?? String(err) });
  } finally {
    await runtime?.close().catch(() => {});
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/** Sends each input in order; a payload refused on a sync path is a dead letter, which the expectations judge. */
async function send(built: BuiltCase): Promise<void> {
  for (const { node, port, payloads } of built.sends) {
    const emit = built.emitters.get(node)!;
    for (const payload of payloads) {
      try {
        await emit(port, payload);
      } catch (err) {
        if (!(err instanceof NodeError)) throw err;
      }
    }
  }
}

/** Waits until async edges are drained and no node handled, emitted or dead-lettered anything for `settleMs`; false past the deadline. */
async function settle(running: RunningPipeline, settleMs: number, deadline: number): Promise<boolean> {
  const activity = () => Object.values(running.status().nodes).reduce((sum, n) => sum + (n.out as number) + (n.in as number), running.deadLetterCount());
  for (let last = -1; ; ) {
    await running.idle();
    const now = activity();
    if (now === last) return true;
    if (performance.now() > deadline) return false;
    last = now;
    await sleep(settleMs);
  }
}

/** What `work` answered within `ms`; false (its promise left to end on its own) past that. */
async function within(ms: number, work: (deadline: number) => Promise<boolean>): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([work(performance.now() + ms), timedOut]);
  } finally {
    clearTimeout(timer);
  }
}
