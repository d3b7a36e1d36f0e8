import { describe, expect, it } from "vitest";
import { buildProgram, commandFiles } from "../../runtime/cli/commands";

describe("evoflow's command table", () => {
  it("names every command the command files register, and each command's own file registers it", async () => {
    const all = await buildProgram();
    const table = commandFiles();
    // The built-in package's own: evoflow drift comes from nodes/drift/ (package.json "commands").
    expect(Object.keys(table)).toContain("drift");
    expect(all.commands.map((c) => c.name()).sort()).toEqual(Object.keys(table).sort());
    for (const name of Object.keys(table)) {
      const program = await buildProgram(name);
      expect(program.commands.map((c) => c.name()), name).toContain(name);
    }
  });
});
