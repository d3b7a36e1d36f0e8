/** The `evoflow` command (bin/evoflow.js runs this file, or its bundle in dist/). */
import { buildProgram } from "./commands";

// A reader that stops early (`evoflow nodes | head -1`) closes the pipe. A C tool would die of
// SIGPIPE; Node instead emits EPIPE, which unhandled prints a stack. The reader having all it
// wanted is not the command's failure, so it ends quietly with status 0 (`set -o pipefail` stays happy).
for (const stream of [process.stdout, process.stderr])
  stream.on("error", (err: NodeJS.ErrnoException) => {
    if (err.code !== "EPIPE") throw err;
    process.exit(0);
  });

await (await buildProgram(process.argv[2])).parseAsync(process.argv);
