/**
 * Offline commands on pipeline files: schema, validate, fmt, nodes.
 */
import { readFileSync, writeFileSync } from "node:fs";
import type { Command } from "commander";
import { fillRequires, formatPipeline } from "../canonical";
import { configPathFields } from "../confined-path";
import { portsAtDefaults, type NodeTypes } from "../node-types";
import { commandNodeTypes, nodePackageOptions, type NodePackageOptions } from "./node-packages";
import { registerInstallCommands } from "./node-install";
import { describePortType, type Ports } from "../../sdk/ports";
import { capabilitiesOf } from "../../sdk/contract";
import { pipelineJsonSchema } from "../schema";
import { validatePipeline, type Problem } from "../validate";

/** Reads and parses a pipeline file; a JSON syntax error becomes a problem at `$`. */
export function readPipelineFile(file: string): { json?: unknown; problems: Problem[] } {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    return { problems: [{ path: "$", message: `cannot read file: ${(err as Error).message}` }] };
  }
  try {
    return { json: JSON.parse(text), problems: [] };
  } catch (err) {
    return { problems: [{ path: "$", message: `not JSON: ${(err as Error).message}` }] };
  }
}

/** The pipelines among the files given: `<name>.test.json` beside them (a glob catches both) is `evoflow test`'s. */
function pipelineFiles(files: string[]): string[] {
  const tests = files.filter((f) => f.endsWith(".test.json"));
  if (tests.length) process.stderr.write(`skipped ${tests.join(", ")}: pipeline test files (evoflow test runs them)\n`);
  return files.filter((f) => !f.endsWith(".test.json"));
}

export function register(program: Command): void {
  program
    .command("schema")
    .description("print the JSON Schema of pipeline files (evoflow/v1)")
    .action(() => {
      process.stdout.write(`${JSON.stringify(pipelineJsonSchema(), null, 2)}\n`);
    });

  nodePackageOptions(
    program
      .command("validate")
      .description("check pipeline files: schema, node types, configs, ports, port types, sync cycles and fan-in")
      .argument("<files...>"),
  ).action(async (files: string[], opts: NodePackageOptions) => {
    const nodeTypes = await commandNodeTypes({ dirs: opts.nodes, data: opts.data });
    let failed = false;
    for (const file of pipelineFiles(files)) {
      const read = readPipelineFile(file);
      const problems = read.json === undefined ? read.problems : validatePipeline(read.json, nodeTypes).problems;
      for (const p of problems) process.stdout.write(`${file}: ${p.path}: ${p.message}\n`);
      if (problems.length > 0) failed = true;
    }
    process.exitCode = failed ? 1 : 0;
  });

  nodePackageOptions(
    program
      .command("fmt")
      .description("rewrite pipeline files in canonical form (stable order, 2 spaces, newline at end), with \"requires\" listing the node packages they use")
      .option("--check", "change nothing; exit 1 if a file is not canonical")
      .argument("<files...>"),
  ).action(async (files: string[], opts: NodePackageOptions & { check?: boolean }) => {
    const nodeTypes = await commandNodeTypes({ dirs: opts.nodes, data: opts.data });
    let failed = false;
    for (const file of pipelineFiles(files)) {
      const read = readPipelineFile(file);
      if (read.json === undefined) {
        for (const p of read.problems) process.stderr.write(`${file}: ${p.path}: ${p.message}\n`);
        failed = true;
        continue;
      }
      const canonical = formatPipeline(fillRequires(read.json, nodeTypes));
      if (canonical === readFileSync(file, "utf8")) continue;
      if (opts.check) {
        process.stdout.write(`${file}: not canonical (run evoflow fmt ${file})\n`);
        failed = true;
      } else writeFileSync(file, canonical);
    }
    process.exitCode = failed ? 1 : 0;
  });

  const nodes = program.command("nodes").description("node types and the node packages that give them");
  nodePackageOptions(
    nodes
      .command("list", { isDefault: true })
      .description("list node types with their package, ports, port types and config schema")
      .option("--json", "print the full description as JSON")
      .option("--packages", "list the node packages instead: name, version, folder, node types"),
  ).action(async (opts: NodePackageOptions & { json?: boolean; packages?: boolean }) => {
    const nodeTypes = await commandNodeTypes({ dirs: opts.nodes, data: opts.data });
    if (opts.packages) return printPackages(nodeTypes, opts.json);
    if (opts.json) {
      process.stdout.write(`${JSON.stringify(nodeTypes.describe(), null, 2)}\n`);
      return;
    }
    for (const def of nodeTypes.list()) {
      const shown = portsAtDefaults(def);
      const ports = (p: Ports | undefined) =>
        p === undefined ? "(set by its config)" : Object.entries(p).map(([name, t]) => `${name}: ${describePortType(t)}`).join(", ") || "-";
      process.stdout.write(`${def.type}  (${def.category}) ${def.title}\n`);
      const pkg = nodeTypes.packageOf(def.type);
      if (pkg) process.stdout.write(`  package: ${pkg.name}@${pkg.version}\n`);
      process.stdout.write(`  in:  ${ports(shown.inputs)}\n  out: ${ports(shown.outputs)}\n`);
      const fields = Object.keys((def.config as unknown as { shape?: object }).shape ?? {});
      if (fields.length) process.stdout.write(`  config: ${fields.join(", ")}\n`);
      const paths = configPathFields(def.config).map((f) => `${f.name} (${f.meta.kind}, ${f.meta.access})`);
      if (paths.length) process.stdout.write(`  paths: ${paths.join(", ")}, inside the pipeline's data folder\n`);
      // At the defaults; which of them a server grants is its own setting (evoflow run --grant), unknown here.
      const needs = capabilitiesOf(def, {});
      if (needs.length) process.stdout.write(`  needs: ${needs.join(", ")} (granted by the runtime: --grant)\n`);
    }
  });
  registerInstallCommands(nodes);
}

function printPackages(nodeTypes: NodeTypes, json: boolean | undefined): void {
  const packages = nodeTypes.packages.map(({ name, version, dir, source, sdk, namespaces, types }) => ({ name, version, dir, source, sdk, namespaces, types }));
  if (json) {
    process.stdout.write(`${JSON.stringify(packages, null, 2)}\n`);
    return;
  }
  for (const p of packages) {
    process.stdout.write(`${p.name}@${p.version}  (${p.source}) ${p.dir}\n`);
    process.stdout.write(`  sdk ${p.sdk}, namespace${p.namespaces.length > 1 ? "s" : ""} ${p.namespaces.join(", ")}\n  types: ${p.types.join(", ")}\n`);
  }
}
