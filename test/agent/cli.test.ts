/**
 * `evoflow agent` as a real process: serves a registry model over /v2, reports itself
 * on /api/agent and /metrics, joins NATS where a scheduler finds it, profiles an unprofiled
 * model while idle (its profile then on `evoflow card`), and refuses bad options.
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { connect } from "@nats-io/transport-node";
import { afterAll, describe, expect, it } from "vitest";
import { NatsModels } from "../../gpu-agent/nats";
import { FsModelRegistry } from "../../runtime/registry/fs";
import { makeMlp } from "../fixtures/mlp";
import { expectClose, sampleInput, startNatsServer, telemetryTestEnv, tempDir } from "./helpers";

const root = join(import.meta.dirname, "../..");
const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
});

/** Starts `evoflow agent` with a home folder of its own (`home`), where onnxruntime would keep its telemetry. */
function startAgent(args: string[], home = tempDir("agent-home")): Promise<{ child: ChildProcess; url: string; line: string }> {
  const child = spawn(process.execPath, [join(root, "bin/evoflow.js"), "agent", ...args], { cwd: tempDir("agent-cwd"), env: telemetryTestEnv(home), stdio: ["ignore", "pipe", "pipe"] });
  children.push(child);
  return new Promise((resolve, reject) => {
    let out = "";
    child.stdout!.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) resolve({ child, url: m[1], line: out.trim() });
    });
    child.stderr!.on("data", (chunk: Buffer) => (out += chunk.toString()));
    child.once("exit", (code) => reject(new Error(`agent exited (${code}): ${out}`)));
  });
}

describe("evoflow agent (spawned)", () => {
  it("serves registry models over v2 and on NATS", async () => {
    const mlp = makeMlp({ sizes: [4, 6, 2], seed: 5 });
    const registryDir = tempDir("cli-registry");
    const registry = new FsModelRegistry(registryDir);
    await registry.register({ name: "tiny", artifact: mlp.bytes });
    await registry.promote("tiny", 1);
    await registry.close();
    const nats = await startNatsServer();
    try {
      const home = tempDir("agent-home");
      const { child, url, line } = await startAgent(["--memory", "64MB", "--port", "0", "--registry", registryDir, "--nats", nats.url, "--id", "gpu0", "--workers", "2", "--concurrent-loads", "2", "--prepack-weights", "never", "--memory-arena", "never", "--load-priority", "nice", "--no-idle-profile"], home);
      expect(line).toMatch(/evoflow agent gpu0 listening on .* \(backend onnxruntime on cpu, memory 64MB/);

      const x = sampleInput(mlp, 2, 1);
      const res = await fetch(`${url}/v2/models/tiny/infer`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ inputs: [{ name: "input", shape: [2, 4], datatype: "FP32", data: Array.from(x) }] }) });
      expect(res.status).toBe(200);
      const body = await res.json();
      expect(body.model_version).toBe("1");
      expectClose(body.outputs[0].data, mlp.forward(x, 2));
      const status = await (await fetch(`${url}/api/agent`)).json();
      expect(status).toMatchObject({ id: "gpu0", backend: "onnxruntime", memoryBytes: 64_000_000, resident: ["tiny@1"], loads: 1, profiler: { state: "off" } });
      expect(await (await fetch(`${url}/metrics`)).text()).toMatch(/evoflow_agent_model_loads_total 1/);
      // onnxruntime's telemetry is off (onnx/ort.ts): it keeps no store in the agent's home.
      expect(existsSync(join(home, ".cache", "Microsoft"))).toBe(false);

      const nc = await connect({ servers: nats.url });
      const scheduler = new NatsModels(nc);
      await scheduler.start();
      expect(scheduler.agentsStatus().map((a) => a.id)).toEqual(["gpu0"]);
      const out = await scheduler.infer("tiny", 1, { input: { dtype: "float32", shape: [2, 4], data: x } });
      expectClose(out.output.data as Float32Array, mlp.forward(x, 2));
      await scheduler.close();
      await nc.close();

      child.kill("SIGTERM");
      expect(await new Promise((r) => child.once("exit", r))).toBe(0);
    } finally {
      await nats.stop();
    }
  }, 60_000);

  it("profiles an unprofiled registry model while idle; the profile is on /api/agent, /metrics and `evoflow card`", async () => {
    const registryDir = tempDir("cli-registry");
    const registry = new FsModelRegistry(registryDir);
    await registry.register({ name: "tiny", artifact: makeMlp({ sizes: [4, 6, 2], seed: 6 }).bytes });
    await registry.close();
    const { child, url, line } = await startAgent(["--memory", "64MB", "--port", "0", "--registry", registryDir, "--id", "gpu1", "--profile-idle-below", "0.5"]);
    expect(line).toMatch(/idle profiling under 50%\)/);
    let status: { profiler: { state: string; profiled: number; left: number } } | undefined;
    for (const deadline = Date.now() + 60_000; !(status?.profiler.profiled === 1 && status.profiler.state === "idle"); await new Promise((r) => setTimeout(r, 100))) {
      expect(Date.now()).toBeLessThan(deadline);
      status = await (await fetch(`${url}/api/agent`)).json();
    }
    expect(status!.profiler).toMatchObject({ left: 0, idleBelow: 0.5, pauses: 0 });
    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).toMatch(/evoflow_agent_profiler_models_profiled_total 1/);
    expect(metrics).toMatch(/evoflow_agent_profiler_state\{state="idle"\} 1/);
    expect(metrics).toMatch(/evoflow_agent_utilisation 0/);
    child.kill("SIGTERM");
    expect(await new Promise((r) => child.once("exit", r))).toBe(0);

    const card = await new Promise<string>((resolve, reject) =>
      execFile(process.execPath, [join(root, "bin/evoflow.js"), "card", "tiny@1", "--registry", registryDir], { cwd: tempDir("card-cwd") }, (err, out, stderr) => (err ? reject(new Error(stderr)) : resolve(out))),
    );
    expect(card).toMatch(/profile {6}onnxruntime on cpu, .*, by the idle profiler of agent gpu1 \(utilisation under 50%\)/);
    const rows = card.split("\n").filter((l) => /^ {4}\d+ /.test(l)).map((l) => l.trim().split(/\s+/));
    expect(rows.map((r) => r[0])).toEqual(["1", "8", "32"]);
    for (const [, , p50, p95, p99] of rows) expect(Number(p50) <= Number(p95) && Number(p95) <= Number(p99) && Number(p50) > 0).toBe(true);
  }, 90_000);

  it("refuses bad options with a clear message", async () => {
    const run = (args: string[]) =>
      new Promise<{ code: number; stderr: string }>((resolve) =>
        execFile(process.execPath, [join(root, "bin/evoflow.js"), "agent", ...args], { cwd: tempDir("agent-cwd") }, (err, _out, stderr) => resolve({ code: err ? (err.code as number) : 0, stderr })),
      );
    const [size, triton, unknown, loads, priority, prepack, arena, idle] = await Promise.all([
      run(["--memory", "lots"]),
      run(["--memory", "1GB", "--backend", "triton"]),
      run(["--memory", "1GB", "--backend", "tpu"]),
      run(["--memory", "1GB", "--concurrent-loads", "0"]),
      run(["--memory", "1GB", "--load-priority", "low"]),
      run(["--memory", "1GB", "--prepack-weights", "toString"]),
      run(["--memory", "1GB", "--memory-arena", "sometimes"]),
      run(["--memory", "1GB", "--profile-idle-below", "40%"]),
    ]);
    expect(size).toMatchObject({ code: 2, stderr: expect.stringMatching(/invalid size "lots"/) });
    expect(triton).toMatchObject({ code: 2, stderr: expect.stringMatching(/needs --triton-url/) });
    expect(unknown).toMatchObject({ code: 2, stderr: expect.stringMatching(/unknown backend "tpu"/) });
    expect(loads).toMatchObject({ code: 2, stderr: expect.stringMatching(/--concurrent-loads must be a whole number ≥ 1, got "0"/) });
    expect(priority).toMatchObject({ code: 2, stderr: expect.stringMatching(/--load-priority must be idle, nice or normal, got "low"/) });
    expect(prepack).toMatchObject({ code: 2, stderr: expect.stringMatching(/--prepack-weights must be always, never or auto, got "toString"/) });
    expect(idle).toMatchObject({ code: 2, stderr: expect.stringMatching(/--profile-idle-below must be a share between 0 and 1 \(e.g. 0.4\), got "40%"/) });
    expect(arena).toMatchObject({ code: 2, stderr: expect.stringMatching(/--memory-arena must be always, never or auto, got "sometimes"/) });
  }, 60_000);
});
