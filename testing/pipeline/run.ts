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
import { closeServices, createServices } from "../../runtime/services";
import type { Transport } from "../../runtime/transport/transport";
import type { RunningPipeline } from "../../runtime/engine/engine";
import type { Capability } from "../../sdk/contract";
import { NodeError } from "../../sdk/errors";
import { judge } from "./expectations";
import { buildCase, type BuiltCase } from "./test-pipeline";
import { loadTestFile, TestFileError, type LoadedTestFile, type TestCase } from "./test-file";

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
  /** Capabilities the cases' nodes may use; the runtime's default (fs-write, network) when absent. */
  grants?: readonly Capability[];
  /** Run the cases against this pipeline instead of the test file's (the editor's run: what is deployed). */
  pipeline?: unknown;
  /** Called as each case ends (the CLI prints it at once). */
  onCase?: (file: string, result: CaseResult) => void;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function runTestFile(file: string, options: RunOptions): Promise<FileResult> {
  const started = performance.now();
  let loaded: LoadedTestFile;
  try {
    loaded = await loadTestFile(file, options.pipeline);
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
  let services: Record<string, unknown> | undefined;
  let result: CaseResult;
  try {
    services = await createServices({ dataDir, packages: built.nodeTypes.packages });
    runtime = new Runtime({
      ...(options.transport && { transport: await options.transport() }),
      nodeTypes: built.nodeTypes,
      dataDir,
      grants: options.grants,
      services,
      log: () => {},
    });
    result = await play(runtime, built, testCase, options.transport !== undefined, done);
  } catch (err) {
    result = done({ error: (err as Error).stack ?? String(err) });
  }
  // A case's pipeline is throwaway: what the transport keeps of it goes too (on NATS, its stream),
  // and so do its services (a watch, model sessions), or a long `--watch` would pile them up.
  try {
    if (runtime) {
      await runtime.undeploy(String(built.pipeline.name));
      await runtime.transport.discard?.(String(built.pipeline.name));
    }
  } catch (err) {
    result = { ...result, error: `${result.error ? `${result.error}\n` : ""}the pipeline's ${runtime!.transport.kind} resources could not be removed: ${(err as Error).message}` };
  } finally {
    await runtime?.close().catch(() => {});
    if (services) await closeServices(services).catch(() => {});
    rmSync(dataDir, { recursive: true, force: true });
  }
  return result;
}

/** Deploys the case's pipeline, sends its inputs, waits until it is quiet and judges what it saw. */
async function play(runtime: Runtime, built: BuiltCase, testCase: TestCase, onNats: boolean, done: (fields: Partial<CaseResult>) => CaseResult): Promise<CaseResult> {
  let running: RunningPipeline;
  try {
    running = await runtime.deploy(built.pipeline);
  } catch (err) {
    if (!(err instanceof PipelineInvalidError)) throw err;
    return done({ error: `the test pipeline did not deploy:\n${err.problems.map((p) => `${p.path}: ${p.message}`).join("\n")}` });
  }
  const settleMs = testCase.settleMs ?? (onNats ? 300 : 100);
  const quiet = await within(testCase.timeoutMs, async (deadline) => {
    await send(built);
    return settle(running, settleMs, deadline);
  });
  if (!quiet) return done({ error: `still busy after ${testCase.timeoutMs} ms (timeoutMs): a source that never ends needs a fixture` });
  const payloadsAt = (at: string) => built.captured.all(built.captureOf.get(at)!).map((m) => m.payload);
  return done({ failures: await judge(testCase.expect, payloadsAt, running.deadLetters.toArray()) });
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
