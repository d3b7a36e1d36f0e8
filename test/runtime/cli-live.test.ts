/**
 * `evoflow run`, `tap` and `trace` as a user runs them: real processes over HTTP.
 */
import { spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startEvoflow } from "./evoflow-process";

describe("evoflow run, tap and trace", () => {
  let server: ChildProcess;
  let url: string;
  let data: string;

  beforeAll(async () => {
    data = mkdtempSync(join(tmpdir(), "evoflow-cli-"));
    ({ server, url } = await startEvoflow(["run", "pipelines/hello-http.json", "--port", "0", "--data", data]));
  });
  afterAll(() => {
    server.kill("SIGTERM");
  });

  // The CLI finds the token `evoflow run` generated in the data folder.
  const cli = (args: string[]) => spawnSync(process.execPath, ["bin/evoflow.js", ...args, "--url", url, "--data", data], { encoding: "utf8" });
  const token = () => readFileSync(join(data, "token"), "utf8").trim();

  it("taps an edge and traces an output back to its request", async () => {
    const res = await fetch(`${url}/pipelines/hello`, { method: "POST", headers: { authorization: `Bearer ${token()}`, "content-type": "application/json" }, body: JSON.stringify({ x: [2, 4] }) });
    expect(await res.json()).toEqual({ sum: 6, mean: 3, n: 2, pipeline: "hello" });
    const traceId = res.headers.get("x-trace-id")!;

    const tap = cli(["tap", "hello", "request_out-log_in", "--limit", "5"]);
    expect(tap.status).toBe(0);
    const tapped = tap.stdout.trim().split("\n").map((l) => JSON.parse(l));
    expect(tapped.at(-1)).toMatchObject({ traceId, payload: { x: [2, 4] }, source: { node: "request", port: "out" } });

    const trace = cli(["trace", traceId]);
    expect(trace.status).toBe(0);
    const lines = trace.stdout.trim().split("\n");
    expect(lines[0]).toBe(`trace ${traceId} in pipeline hello`);
    // Output first, then what it was made from, indented one level per step back.
    expect(lines.slice(1).map((l) => l.match(/^(\s*)(\S+)/)!.slice(1, 3).join(""))).toEqual(["  tag.out", "    stats.out", "      request.out"]);
  });

  it("fails clearly on an unknown trace or edge", () => {
    const trace = cli(["trace", "0123456789abcdef0123456789abcdef"]);
    expect(trace.status).toBe(1);
    expect(trace.stderr).toContain("trace 0123456789abcdef0123456789abcdef not found");
    const tap = cli(["tap", "hello", "nope"]);
    expect(tap.status).toBe(1);
    expect(tap.stderr.trim()).toBe("edge nope not found");
  });
});
