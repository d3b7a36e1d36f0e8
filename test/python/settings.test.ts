/**
 * The interpreter of Python nodes as the settings name it, through `evoflow run` as a real
 * process: a pipeline with a python.function does not start on an interpreter that is not there,
 * naming it at the node's path; a "python" that is no command name stops the server with its path.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const pipeline = {
  apiVersion: "evoflow/v1",
  name: "py-settings",
  nodes: [
    { id: "request", type: "io.http" },
    { id: "features", type: "python.function", config: { code: "def process(p, ctx):\n    return p\n" } },
  ],
  edges: [{ from: "request.out", to: "features.in", mode: "sync" }],
};

function run(settings: Record<string, unknown>) {
  const data = mkdtempSync(join(tmpdir(), "evoflow-py-settings-"));
  writeFileSync(join(data, "settings.json"), JSON.stringify(settings));
  const file = join(data, "pipeline.json");
  writeFileSync(file, JSON.stringify(pipeline));
  return spawnSync(process.execPath, ["bin/evoflow.js", "run", file, "--port", "0", "--no-auth", "--data", data], { encoding: "utf8", timeout: 60_000 });
}

describe('settings "python"', () => {
  it("is the interpreter the workers start: one that is not there fails the deploy, named at the node", () => {
    const result = run({ python: "python3-not-installed-here" });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('$.nodes[1]: node "features" could not start: the Python interpreter "python3-not-installed-here" could not start');
  });

  it("must be a non-empty string, else the server stops naming its path", () => {
    const result = run({ python: "" });
    expect(result.status).toBe(2);
    expect(result.stderr).toContain("$.python:");
  });
});
