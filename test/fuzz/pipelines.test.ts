/**
 * Fuzzing pipelines (issue 18, point 8): every example in pipelines/ mutated many ways, through
 * validatePipeline (never throws, every problem has a JSON path), `evoflow validate` (exit 0 or 1,
 * no stack), the editor's POST /api/validate (the same verdict) and the deploy API on a real listening
 * server (never a 5xx, never over 5 s).
 * A failure prints the seed, the case number and its steps: FUZZ_SEED=<seed> replays the run.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApi } from "../../runtime/api/server";
import { nodeTypes } from "../../runtime/node-types";
import { Runtime } from "../../runtime/runtime";
import type { ModelRegistry } from "../../sdk/registry";
import { createServices } from "../../runtime/services";
import { validatePipeline, type ValidationResult } from "../../runtime/validate";
import { makeMlp } from "../fixtures/mlp";
import { FUZZ_SEED, nested, preview, rngFor, toJsonText } from "./mutate";
import { examples, mutatePipeline } from "./pipeline-mutations";
import { watchUncaught } from "./uncaught";

const VALIDATE_CASES = 1_200;
const CLI_CASES = 12;
const DEPLOY_CASES = 240;
const root = join(import.meta.dirname, "../..");
const uncaught = watchUncaught();

/** A failure as the report shows it: enough to replay the case and see what was sent. */
const failure = (kind: string, index: number, steps: string[], input: unknown, what: string) =>
  `${what}\n  replay: FUZZ_SEED=${FUZZ_SEED} ${kind} case ${index}\n  steps: ${steps.join("; ")}\n  input: ${preview(input)}`;

function problemsAreWellFormed(r: ValidationResult): string | undefined {
  if (r.ok) return r.problems.length === 0 && r.compiled ? undefined : "ok but with problems or without a compiled graph";
  if (!Array.isArray(r.problems) || r.problems.length === 0) return "not ok, yet no problem listed";
  const bad = r.problems.find((p) => typeof p.path !== "string" || !p.path.startsWith("$") || typeof p.message !== "string" || p.message.length === 0);
  if (bad) return `a problem without a JSON path or message: ${preview(bad)}`;
  JSON.stringify(r.problems); // what the CLI and the API send must serialise
  return undefined;
}

describe("fuzzed pipelines", () => {
  it(`validatePipeline: ${VALIDATE_CASES} mutants of the examples, no throw, every problem with a JSON path`, () => {
    const failures: string[] = [];
    let valid = 0;
    let slowest = 0;
    let slowestCase = "";
    for (let i = 0; i < VALIDATE_CASES; i++) {
      const rng = rngFor("validate", i);
      const base = examples[i % examples.length].pipeline;
      // Half of them hold what only an in-process caller can pass (NaN, Infinity, undefined).
      const { pipeline, steps } = mutatePipeline(base, rng, nodeTypes, { json: i % 2 === 0, max: 4 });
      try {
        const started = performance.now();
        const r = validatePipeline(pipeline, nodeTypes);
        const ms = performance.now() - started;
        if (ms > slowest) (slowest = ms), (slowestCase = `case ${i}: ${steps.join("; ")}`);
        if (ms > 5_000) failures.push(failure("validate", i, steps, pipeline, `took ${Math.round(ms)} ms`));
        if (r.ok) valid++;
        const wrong = problemsAreWellFormed(r);
        if (wrong) failures.push(failure("validate", i, steps, pipeline, wrong));
      } catch (err) {
        failures.push(failure("validate", i, steps, pipeline, `threw ${(err as Error).stack?.split("\n").slice(0, 4).join(" | ")}`));
      }
    }
    console.log(`validate fuzz (seed ${FUZZ_SEED}): ${valid} of ${VALIDATE_CASES} valid, slowest ${Math.round(slowest)} ms (${slowestCase})`);
    expect(failures, failures.slice(0, 5).join("\n\n")).toEqual([]);
    // The mutations must leave some pipelines valid, or the deploy run below would test only refusals.
    expect(valid).toBeGreaterThan(VALIDATE_CASES / 50);
  });

  it("validatePipeline on documents that are not pipelines at all: no throw, problems at $", () => {
    const docs: unknown[] = [null, undefined, 0, Number.NaN, "pipeline", [], {}, [examples[0].pipeline], { nodes: null, edges: null }, { nodes: "x", edges: 1 },
      { apiVersion: "evoflow/v1", name: "x", nodes: [null, 1, "a", [], {}], edges: [null, 1, "a.b", [], {}] }, nested(10_000, "object"), nested(10_000, "array"),
      { apiVersion: "evoflow/v1", name: "big", nodes: Array.from({ length: 5_000 }, (_, i) => ({ id: `n${i}`, type: "transform.set" })), edges: Array.from({ length: 4_999 }, (_, i) => ({ from: `n${i}.out`, to: `n${i + 1}.in` })) }];
    for (const doc of docs) {
      let r: ValidationResult | undefined;
      expect(() => (r = validatePipeline(doc, nodeTypes)), preview(doc, 200)).not.toThrow();
      if (!r!.ok) expect(problemsAreWellFormed(r!), preview(doc, 200)).toBeUndefined();
    }
  });

  it(`evoflow validate on ${CLI_CASES} mutated files: exit 1 when one is invalid, one line per problem, no stack`, () => {
    const dir = mkdtempSync(join(tmpdir(), "evoflow-fuzz-cli-"));
    try {
      const cases = Array.from({ length: CLI_CASES }, (_, i) => {
        const { pipeline, steps } = mutatePipeline(examples[i % examples.length].pipeline, rngFor("cli", i), nodeTypes, { json: true, max: 3 });
        const file = join(dir, `case-${i}.json`);
        const text = toJsonText(pipeline);
        writeFileSync(file, text);
        return { file, steps, pipeline, expected: validatePipeline(JSON.parse(text), nodeTypes) };
      });
      // One process for all the files, as CI runs it: each file's problems, and one exit status.
      const run = spawnSync(process.execPath, [join(root, "bin/evoflow.js"), "validate", ...cases.map((c) => c.file)], { cwd: root, encoding: "utf8", timeout: 60_000 });
      const context = `replay: FUZZ_SEED=${FUZZ_SEED} (cli cases 0-${CLI_CASES - 1})\n${run.stdout.slice(0, 2_000)}\n${run.stderr.slice(0, 2_000)}`;
      expect(run.status, context).toBe(cases.every((c) => c.expected.ok) ? 0 : 1);
      expect(run.stderr, context).not.toMatch(/\n\s+at /);
      const failures = cases.flatMap((c, i) => {
        const lines = run.stdout.split("\n").filter((l) => l.startsWith(`${c.file}: $`));
        return lines.length === c.expected.problems.length ? [] : [failure("cli", i, c.steps, c.pipeline, `${lines.length} problem lines for ${c.expected.problems.length} problems`)];
      });
      expect(failures, failures.join("\n\n")).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});

describe("fuzzed deploys through the API (real server)", () => {
  let runtime: Runtime;
  let app: FastifyInstance;
  let url: string;
  const dataDir = mkdtempSync(join(tmpdir(), "evoflow-fuzz-deploy-"));

  beforeAll(async () => {
    const services = await createServices({ dataDir });
    runtime = new Runtime({ dataDir, services });
    app = await createApi({ runtime });
    url = await app.listen({ port: 0, host: "127.0.0.1" });
    // The Fashion-MNIST example trains a first champion when its model has none (seconds of CPU):
    // a small one of the same shape is there already, so its deploys here only start the pipeline.
    const registry = services.registry as ModelRegistry;
    await registry.register({ name: "fmnist", artifact: makeMlp({ sizes: [784, 8, 10], seed: 1, softmax: true }).bytes });
    await registry.promote("fmnist", 1);
  }, 120_000);
  afterAll(async () => {
    await app?.close();
    await runtime?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it(`POST /api/validate and /api/pipelines: ${DEPLOY_CASES} mutants, every answer below 500 and within 5 s, undeployed through the API after`, async () => {
    const failures: string[] = [];
    const statuses = new Map<number, number>();
    for (let i = 0; i < DEPLOY_CASES; i++) {
      // Every third case sets plausible sizes only: more of those deploy, and a deploy is where a size bites.
      const { pipeline, steps } = mutatePipeline(examples[i % examples.length].pipeline, rngFor("deploy", i), nodeTypes, { json: true, max: 2, sizes: i % 3 === 2 });
      const body = toJsonText(pipeline);
      let status: number;
      try {
        // The editor's check first: the same verdict as validatePipeline here, with the problems as JSON.
        const checked = await fetch(`${url}/api/validate`, { method: "POST", headers: { "content-type": "application/json" }, body, signal: AbortSignal.timeout(5_000) });
        const text = await checked.text();
        if (checked.status >= 500) failures.push(failure("deploy", i, steps, pipeline, `POST /api/validate answered ${checked.status}: ${text.slice(0, 300)}`));
        else if (checked.status === 200 && (JSON.parse(text) as { ok: boolean }).ok !== validatePipeline(JSON.parse(body), nodeTypes).ok)
          failures.push(failure("deploy", i, steps, pipeline, `POST /api/validate says ${text.slice(0, 300)}, unlike validatePipeline`));
      } catch (err) {
        failures.push(failure("deploy", i, steps, pipeline, `POST /api/validate: no answer within 5 s (${(err as Error).name})`));
      }
      try {
        const res = await fetch(`${url}/api/pipelines`, { method: "POST", headers: { "content-type": "application/json" }, body, signal: AbortSignal.timeout(5_000) });
        status = res.status;
        const text = await res.text();
        if (status >= 500) failures.push(failure("deploy", i, steps, pipeline, `status ${status}: ${text.slice(0, 300)}`));
        else if (status >= 400 && !/"error"/.test(text)) failures.push(failure("deploy", i, steps, pipeline, `status ${status} without a JSON error: ${text.slice(0, 300)}`));
      } catch (err) {
        status = 0;
        failures.push(failure("deploy", i, steps, pipeline, `no answer within 5 s (${(err as Error).name})`));
      }
      statuses.set(status, (statuses.get(status) ?? 0) + 1);
      for (const p of runtime.list()) {
        const res = await fetch(`${url}/api/pipelines/${encodeURIComponent(p.name)}`, { method: "DELETE", signal: AbortSignal.timeout(5_000) });
        if (res.status !== 200) failures.push(failure("deploy", i, steps, pipeline, `DELETE /api/pipelines/${p.name} answered ${res.status}: ${(await res.text()).slice(0, 300)}`));
      }
      if (runtime.list().length > 0) failures.push(failure("deploy", i, steps, pipeline, `still running after DELETE: ${runtime.list().map((p) => p.name).join(", ")}`));
    }
    console.log(`deploy fuzz (seed ${FUZZ_SEED}): statuses ${JSON.stringify(Object.fromEntries(statuses))}`);
    expect(failures, failures.slice(0, 5).join("\n\n")).toEqual([]);
    expect(statuses.get(201) ?? 0).toBeGreaterThan(0);
  }, 180_000);

  it("no uncaught exception or unhandled rejection during the run", () => {
    expect(uncaught.errors.map((e) => (e as Error).stack ?? String(e))).toEqual([]);
  });
});
