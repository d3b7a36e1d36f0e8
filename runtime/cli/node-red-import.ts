/**
 * `evoflow import flows.json [--out DIR]`: a Node-RED flows.json as one pipeline file per tab,
 * in `evoflow fmt`'s canonical form, each run through the validator before it is written.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { Command } from "commander";
import { fillRequires, formatPipeline } from "../canonical";
import { FlowsError, formatReport, importNodeRedFlows } from "../node-red-import/convert";
import { mappingContext } from "../node-red-import/context";
import { validatePipeline } from "../validate";
import { commandNodeTypes, nodePackageOptions, type NodePackageOptions } from "./node-packages";
import { readPipelineFile } from "./pipeline";

export function register(program: Command): void {
  nodePackageOptions(
    program
      .command("import")
      .description("convert a Node-RED flows.json: one pipeline per tab (subflows and links resolved), with a report of every node's mapping")
      .argument("<flows>", "the flows.json file")
      .option("--out <dir>", "folder for the pipeline files", "."),
  ).action(async (file: string, opts: NodePackageOptions & { out: string }) => {
    const read = readPipelineFile(file);
    if (read.json === undefined) {
      for (const p of read.problems) process.stderr.write(`${file}: ${p.path}: ${p.message}\n`);
      process.exitCode = 1;
      return;
    }
    const types = await commandNodeTypes({ dirs: opts.nodes, data: opts.data });
    let result;
    try {
      result = importNodeRedFlows(read.json, { ...mappingContext(types), fallbackName: path.basename(file, ".json") });
    } catch (err) {
      if (!(err instanceof FlowsError)) throw err;
      process.stderr.write(`${file}: ${err.message}\n`);
      process.exitCode = 1;
      return;
    }
    process.stdout.write(formatReport(result));
    mkdirSync(opts.out, { recursive: true });
    let invalid = false;
    for (const { name, pipeline } of result.pipelines) {
      const out = path.join(opts.out, `${name}.json`);
      const checked = validatePipeline(pipeline, types);
      writeFileSync(out, formatPipeline(fillRequires(pipeline, types)));
      if (checked.ok) process.stdout.write(`wrote ${out} (validates)\n`);
      else {
        invalid = true;
        process.stdout.write(`wrote ${out}, which does not validate:\n`);
        for (const p of checked.problems) process.stdout.write(`${out}: ${p.path}: ${p.message}\n`);
      }
    }
    process.exitCode = invalid ? 1 : 0;
  });
}
