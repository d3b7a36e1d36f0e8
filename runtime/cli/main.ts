/**
 * The `evoflow` command. Each area registers its own subcommands from its own file.
 */
import { Command } from "commander";
import { register as registerPipelineCommands } from "./pipeline";
import { register as registerRunCommands } from "./run";
import { register as registerAgentCommands } from "./agent";
import { register as registerModelCommands } from "./model";
import { register as registerProfileCommands } from "./profile";
import { register as registerNatsCommands } from "./nats";
import { register as registerDriftCommands } from "./drift";
import { register as registerClCommands } from "./cl";

const program = new Command("evoflow")
  .description("Visual dataflow runtime for ML inference and continual-learning pipelines")
  .showHelpAfterError();

for (const register of [registerPipelineCommands, registerRunCommands, registerAgentCommands, registerModelCommands, registerProfileCommands, registerNatsCommands, registerDriftCommands, registerClCommands]) register(program);

await program.parseAsync(process.argv);
