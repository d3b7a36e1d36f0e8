/**
 * Which file registers each `evoflow` subcommand. Each area registers its own subcommands
 * from its own file; only the file of the command being run is loaded (all of them for help
 * or an unknown command), so a launch loads neither the NATS client nor the agent unless it
 * needs them. Node packages add their own (`"evoflow": { "commands": … }`, as `evoflow drift`
 * comes from nodes/drift/): runtime/packages/extensions.ts finds them from package.json files.
 * test/runtime/cli-commands.test.ts checks this table against the files.
 */
import { Command } from "commander";
import { packageCommandFiles, type CommandFile } from "../packages/extensions";

const pipelineCommands: CommandFile = () => import("./pipeline");
const runCommands: CommandFile = () => import("./run");
const modelCommands: CommandFile = () => import("./model");

export const COMMAND_FILES: Record<string, CommandFile> = {
  schema: pipelineCommands,
  validate: pipelineCommands,
  fmt: pipelineCommands,
  nodes: pipelineCommands,
  run: runCommands,
  tap: runCommands,
  trace: runCommands,
  serve: runCommands,
  agent: () => import("./agent"),
  model: modelCommands,
  profile: () => import("./profile"),
  worker: () => import("./nats"),
  supervise: () => import("./supervise"),
  secrets: () => import("./secrets"),
  import: () => import("./node-red-import"),
  test: () => import("./test"),
};

export async function buildProgram(command?: string): Promise<Command> {
  const program = new Command("evoflow")
    .description("Visual dataflow runtime for ML inference and continual-learning pipelines")
    .showHelpAfterError();
  const table = commandFiles();
  const files = command && table[command] ? [table[command]] : [...new Set(Object.values(table))];
  for (const file of files) (await file()).register(program);
  return program;
}

/** The runtime's own commands and those node packages give (the runtime's own win a name). */
export function commandFiles(): Record<string, CommandFile> {
  return { ...packageCommandFiles(async () => (await import("./command-host")).commandHost), ...COMMAND_FILES };
}
