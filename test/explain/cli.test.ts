/**
 * `evoflow explain <traceId>` as a user runs it: `evoflow run` serving a real linear ONNX model
 * from its data folder's registry, a request traced over HTTP, then the CLI explaining it.
 */
import { spawnSync, type ChildProcess } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FsModelRegistry } from "../../runtime/registry/fs";
import type { Explanation } from "../../sdk";
import { tempDir } from "../agent/helpers";
import { startEvoflow } from "../runtime/evoflow-process";
import { linearModel, linearShap, scoringPipeline } from "./fixtures";

describe("evoflow explain", () => {
  const model = linearModel(3, 2, 31);
  const inputs = [[1, 2, 3], [0.5, -1, 2], [-2, 0, 1], [3, 3, -1]];
  let server: ChildProcess;
  let url: string;
  let data: string;
  const traceIds: string[] = [];

  beforeAll(async () => {
    data = tempDir("explain-cli");
    const registry = new FsModelRegistry(join(data, "registry"));
    await registry.register({ name: "clf", artifact: model.bytes });
    await registry.promote("clf", 1);
    await registry.close();
    writeFileSync(join(data, "scorer.json"), JSON.stringify(scoringPipeline("clf")));
    ({ server, url } = await startEvoflow(["run", join(data, "scorer.json"), "--port", "0", "--data", data]));
    const token = readFileSync(join(data, "token"), "utf8").trim();
    for (const x of inputs) {
      const res = await fetch(`${url}/pipelines/scorer`, { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: JSON.stringify({ dtype: "float32", shape: [1, 3], data: x }) });
      expect(res.status).toBe(200);
      traceIds.push(res.headers.get("x-trace-id")!);
    }
  }, 60_000);
  afterAll(() => {
    server?.kill("SIGTERM");
  });

  const cli = (args: string[]) => spawnSync(process.execPath, ["bin/evoflow.js", ...args, "--url", url, "--data", data], { encoding: "utf8" });

  it("explains a traced request, prints the attributions, and the trace keeps them", () => {
    const expected = linearShap(model, 1, inputs[3], inputs.slice(0, 3));
    const run = cli(["explain", traceIds[3], "--target", "1"]);
    expect(run.stderr).toBe("");
    expect(run.status).toBe(0);
    const lines = run.stdout.trim().split("\n");
    expect(lines[0]).toBe(`trace ${traceIds[3]} in pipeline scorer: kernel-shap of model clf@1, output[1]`);
    expect(lines[2]).toMatch(/^exact: 8 coalitions × 3 background rows/);
    // Largest first, each feature's value the exact Shapley value.
    const table = lines.slice(4).map((l) => l.trim().split(/\s+/).map(Number));
    const order = [0, 1, 2].sort((a, b) => Math.abs(expected[b]) - Math.abs(expected[a]));
    expect(table.map(([feature]) => feature)).toEqual(order);
    for (const [feature, value] of table) expect(value).toBeCloseTo(expected[feature], 3);

    const trace = cli(["trace", traceIds[3]]);
    expect(trace.status).toBe(0);
    expect(trace.stdout).toMatch(/^ {2}explain\.kernel-shap .* model clf@1/m);
  });

  it("--json gives the whole answer; a bad option or trace fails with the reason", () => {
    const run = cli(["explain", traceIds[0], "--json", "--background", "2"]);
    expect(run.status).toBe(0);
    const answer = JSON.parse(run.stdout) as { pipeline: string; messageId: string; explanation: Explanation };
    expect(answer).toMatchObject({ pipeline: "scorer", explanation: { method: "kernel-shap", background: 2 } });
    expect(answer.messageId).toMatch(/^[0-9a-f]+$/);
    // A 3-feature row is no image: occlusion says what it needs.
    const occlusion = cli(["explain", traceIds[0], "--method", "occlusion"]);
    expect(occlusion.status).toBe(1);
    expect(occlusion.stderr).toContain("cannot see an image in a tensor of shape [1,3]: set height and width");
    const bad = cli(["explain", traceIds[0], "--samples", "2"]);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain("$.samples");
    const missing = cli(["explain", "0123456789abcdef0123456789abcdef"]);
    expect(missing.status).toBe(1);
    expect(missing.stderr.trim()).toBe("trace 0123456789abcdef0123456789abcdef not found");
  });
});
