/** The `evoflow` command (bin/evoflow.js runs this file, or its bundle in dist/). */
import { buildProgram } from "./commands";

await (await buildProgram(process.argv[2])).parseAsync(process.argv);
