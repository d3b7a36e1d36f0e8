import { describe, expect, it } from "vitest";
import { buildProgram, COMMAND_FILES } from "../../runtime/cli/commands";

describe("evoflow's command table", () => {
  it("names every command the command files register, and each command's own file registers it", async () => {
    const all = await buildProgram();
    expect(all.commands.map((c) => c.name()).sort()).toEqual(Object.keys(COMMAND_FILES).sort());
    for (const name of Object.keys(COMMAND_FILES)) {
      const program = await buildProgram(name);
      expect(program.commands.map((c) => c.name()), name).toContain(name);
    }
  });
});
