/**
 * Which file registers each `evoflow` subcommand. Each area registers its own subcommands
 * from its own file; only the file of the command being run is loaded (all of them for help
 * or an unknown command), so a launch loads neither the NATS client nor the agent unless it
 * needs them. test/runtime/cli-commands.test.ts checks this table against the files.
 */
import { Command } from "commander";

type CommandFile = () => Promise<{ register(program: Command): void }>;

const pipelineCommands: CommandFile = () => import("./pipeline");
const runCommands: CommandFile = () => import("./run");
const modelCommands: CommandFile = () => import("./model");
const clCommands: CommandFile = () => import("./cl");

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
  drift: () => import("./drift"),
  history: clCommands,
  card: clCommands,
};

export async function buildProgram(command?: string): Promise<Command> {
  const program = new Command("evoflow")
    .description("Visual dataflow runtime for ML inference and continual-learning pipelines")
    .showHelpAfterError();
  const files = command && COMMAND_FILES[command] ? [COMMAND_FILES[command]] : [...new Set(Object.values(COMMAND_FILES))];
  for (const file of files) (await file()).register(program);
  return program;
}
