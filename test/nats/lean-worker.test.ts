/**
 * A worker that hosts only transforms never loads onnxruntime (issue 24, lean workers): on a real
 * nats-server, a coordinator (`evoflow run --nats`) deploys `io.http → transform.set` with the
 * transform placed on group "t"; a worker of that group serves requests, and neither process
 * has onnxruntime's native library mapped (read from /proc/<pid>/maps, not from our own
 * bookkeeping). Every process holds the in-process agent and the CL nodes, which import it.
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { evoflow, until, type CliProcess } from "./cli";
import { freePort, NatsServer } from "./server";

const pipeline = {
  apiVersion: "evoflow/v1",
  name: "lean",
  nodes: [
    { id: "request", type: "io.http" },
    { id: "mark", type: "transform.set", placement: "t", config: { set: { marked: true } } },
  ],
  edges: [{ from: "request.out", to: "mark.in", mode: "sync" }],
};

const mapsOnnxruntime = (p: CliProcess) => readFileSync(`/proc/${p.child.pid}/maps`, "utf8").includes("libonnxruntime");

describe("a worker of transforms", () => {
  let server: NatsServer;
  let api: string;
  const processes: CliProcess[] = [];

  beforeAll(async () => {
    server = await NatsServer.start();
    const dir = mkdtempSync(join(tmpdir(), "evoflow-lean-worker-"));
    writeFileSync(join(dir, "lean.json"), JSON.stringify(pipeline));
    const port = await freePort();
    api = `http://127.0.0.1:${port}`;
    const coordinator = evoflow(["run", join(dir, "lean.json"), "--nats", server.url, "--port", String(port), "--data", join(dir, "coord"), "--no-auth"]);
    const worker = evoflow(["worker", "--nats", server.url, "--placement", "t", "--data", join(dir, "worker")]);
    processes.push(coordinator, worker);
    await coordinator.waitFor(/listening on/);
  }, 60_000);

  afterAll(async () => {
    for (const p of processes) await p.kill("SIGKILL");
    await server?.dispose();
  });

  it("serves requests without onnxruntime in its process (nor in the coordinator's)", async () => {
    const answer = await until("the worker's answer", async () => {
      const res = await fetch(`${api}/pipelines/lean`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ x: 1 }) });
      return res.status === 200 ? res.json() : undefined;
    }, 30_000);
    expect(answer).toEqual({ x: 1, marked: true });
    for (let i = 0; i < 50; i++) {
      const res = await fetch(`${api}/pipelines/lean`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ x: i }) });
      expect(await res.json()).toEqual({ x: i, marked: true });
    }
    const [coordinator, worker] = processes;
    expect(mapsOnnxruntime(worker)).toBe(false);
    expect(mapsOnnxruntime(coordinator)).toBe(false);
  }, 60_000);
});
