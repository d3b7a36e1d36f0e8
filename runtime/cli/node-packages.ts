/**
 * The node types a command works with: the built-in package and the node packages found in the
 * working folder's node_modules, the data folder's nodes/ and each `--nodes DIR`
 * (runtime/packages/). A package that cannot load stops the command with every reason.
 */
import type { Command } from "commander";
import { loadNodeTypes, type NodeTypes } from "../node-types";
import { NodePackageError } from "../packages/load";

export interface NodePackageOptions {
  /** `--nodes DIR` folders (repeatable). */
  nodes: string[];
  data: string;
}

const collect = (value: string, previous: string[]) => [...previous, value];

export const NODES_DIR_HELP = "also load the node packages in this folder: a package, or a folder of them (repeatable)";

export function nodesDirOption(command: Command, flag = "--nodes <dir>"): Command {
  return command.option(flag, NODES_DIR_HELP, collect, []);
}

/** `--nodes DIR` and `--data DIR`, for a command that only reads node packages (validate, fmt, nodes). */
export const nodePackageOptions = (command: Command): Command =>
  nodesDirOption(command).option("--data <dir>", "data folder whose nodes/ holds installed node packages", ".evoflow");

export async function commandNodeTypes(opts: { dirs: readonly string[]; data: string }): Promise<NodeTypes> {
  try {
    return await loadNodeTypes({ projectDir: process.cwd(), dataDir: opts.data, dirs: opts.dirs });
  } catch (err) {
    if (!(err instanceof NodePackageError) && !/^--nodes /.test((err as Error).message)) throw err;
    process.stderr.write(`${(err as Error).message}\n`);
    process.exit(2);
  }
}
