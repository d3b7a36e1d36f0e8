/**
 * `evoflow test [FILE|FOLDER...]`: runs pipeline test files (`<name>.test.json`, see
 * testing/pipeline/test-file.ts) on the in-process runtime, or with `--nats URL` on NATS
 * JetStream; prints each case, a diff for each failed expectation, exits 1 on any failure;
 * `--junit out.xml` for CI, `--watch` to rerun when a file in their folders changes.
 * The runner lives in testing/ (it sits on the runtime as evoflow/testing does); this file only
 * finds files and reports.
 */
import { existsSync, readdirSync, statSync, watch, writeFileSync } from "node:fs";
import path from "node:path";
import type { Command } from "commander";
import { z } from "zod";
import { commandNodeTypes, nodesDirOption, type NodePackageOptions } from "./node-packages";
import { junitXml } from "../../testing/pipeline/junit";
import { pipelineTestFileSchema } from "../../testing/pipeline/test-file";
import { runTestFile, type CaseResult, type FileResult, type RunOptions } from "../../testing/pipeline/run";

type TestOptions = NodePackageOptions & { junit?: string; watch?: boolean; nats?: string; schema?: boolean };

const TEST_FILE = /\.test\.json$/;

/** Test files named or inside the folders named (recursively, skipping node_modules and dot folders); a pipeline file stands for the test file beside it. */
export function findTestFiles(args: readonly string[]): { files: string[]; missing: string[] } {
  const files: string[] = [];
  const missing: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = path.join(dir, entry.name);
      if (entry.isDirectory()) {
        if (!entry.name.startsWith(".") && entry.name !== "node_modules") walk(p);
      } else if (TEST_FILE.test(entry.name)) files.push(p);
    }
  };
  for (const arg of args.length ? args : ["."]) {
    if (existsSync(arg) && statSync(arg).isDirectory()) walk(arg);
    else if (TEST_FILE.test(arg) && existsSync(arg)) files.push(arg);
    else if (arg.endsWith(".json") && existsSync(arg.replace(/\.json$/, ".test.json"))) files.push(arg.replace(/\.json$/, ".test.json"));
    else missing.push(arg);
  }
  return { files: [...new Set(files)], missing };
}

const indent = (text: string, by: string) => text.split("\n").map((l) => by + l).join("\n");

function printCase(result: CaseResult): void {
  const ms = `(${Math.round(result.ms)} ms)`;
  if (result.error) process.stdout.write(`  ERROR ${result.name} ${ms}\n${indent(result.error, "      ")}\n`);
  else if (result.failures.length) process.stdout.write(`  FAIL  ${result.name} ${ms}\n${result.failures.map((f) => indent(f, "      ")).join("\n")}\n`);
  else process.stdout.write(`  ok    ${result.name} ${ms}\n`);
}

async function runAll(files: readonly string[], opts: TestOptions): Promise<boolean> {
  const nodeTypes = await commandNodeTypes({ dirs: opts.nodes, data: opts.data });
  const nats = opts.nats;
  const options: RunOptions = {
    nodeTypes,
    ...(nats && {
      uniqueNames: true,
      transport: async () => {
        const { NatsTransport } = await import("../transport/nats");
        const { serversOf } = await import("./nats");
        return NatsTransport.connect({ servers: serversOf(nats), role: "coordinator" });
      },
    }),
  };
  const results: FileResult[] = [];
  for (const file of files) {
    process.stdout.write(`${file}\n`);
    const result = await runTestFile(file, { ...options, onCase: (_f, c) => printCase(c) });
    if (result.error) process.stdout.write(`  ERROR the test file is not valid\n${indent(result.error, "      ")}\n`);
    results.push(result);
  }
  const cases = results.flatMap((r) => r.cases);
  const failed = cases.filter((c) => c.error || c.failures.length).length + results.filter((r) => r.error).length;
  process.stdout.write(`\n${cases.length - cases.filter((c) => c.error || c.failures.length).length} passed, ${failed} failed (${files.length} file${files.length === 1 ? "" : "s"})\n`);
  if (opts.junit) writeFileSync(opts.junit, junitXml(results));
  return failed === 0;
}

export function register(program: Command): void {
  nodesDirOption(
    program
      .command("test")
      .description("run pipeline test files (<name>.test.json beside <name>.json): inputs, fixtures and expectations per case")
      .argument("[files...]", "test files, pipeline files (their .test.json) or folders to search; default: this folder")
      .option("--nats <url>", "run each case on NATS JetStream at this URL instead of in-process")
      .option("--junit <file>", "also write the results as JUnit XML")
      .option("--watch", "run again whenever a file in the tests' folders changes")
      .option("--schema", "print the JSON Schema of test files (for an IDE's \"$schema\") and exit")
      .option("--data <dir>", "data folder whose nodes/ holds installed node packages", ".evoflow"),
  ).action(async (args: string[], opts: TestOptions) => {
    if (opts.schema) {
      process.stdout.write(`${JSON.stringify(z.toJSONSchema(pipelineTestFileSchema, { io: "input", unrepresentable: "any" }), null, 2)}\n`);
      return;
    }
    const { files, missing } = findTestFiles(args);
    for (const m of missing) process.stderr.write(`${m}: no such test file, pipeline with a .test.json beside it, or folder\n`);
    if (missing.length || files.length === 0) {
      if (files.length === 0) process.stderr.write("no test files (<name>.test.json) found\n");
      process.exitCode = 1;
      return;
    }
    const ok = await runAll(files, opts);
    if (!opts.watch) {
      // Node packages' services (workers, timers) may hold the loop open: the verdict is in.
      process.exit(ok ? 0 : 1);
    }
    watchAndRerun(args, files, opts);
  });
}

/** Reruns what `args` name now (a test file added to a folder named is run too). */
function watchAndRerun(args: readonly string[], files: readonly string[], opts: TestOptions): void {
  const folders = [...new Set(files.map((f) => path.dirname(path.resolve(f))))];
  let timer: NodeJS.Timeout | undefined;
  let running = Promise.resolve(true);
  const rerun = () => {
    clearTimeout(timer);
    // Editors write a file in several steps: one run per burst of changes.
    timer = setTimeout(() => {
      running = running.then(() => {
        process.stdout.write(`\n--- change seen, running again (${new Date().toISOString()}) ---\n`);
        return runAll(findTestFiles(args).files, opts);
      });
    }, 200);
  };
  for (const folder of folders) watch(folder, { recursive: true }, (_event, name) => name && /\.(json|jsonl)$/.test(String(name)) && rerun());
  process.stdout.write(`watching ${folders.join(", ")} (Ctrl-C to stop)\n`);
}
