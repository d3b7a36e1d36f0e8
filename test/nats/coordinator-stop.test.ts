/**
 * `evoflow run --nats` stopping cleanly takes its pipeline definitions out of NATS KV: the
 * workers stop their share and status shows no pipeline nobody runs, while the stream and
 * its messages stay readable. Started again, the coordinator puts the definition back and
 * the workers follow. A DELETE of the pipeline through the API withdraws it the same way.
 * Real CLI processes on a real nats-server.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, expect, it } from "vitest";
import { NatsTransport } from "../../runtime/transport/nats";
import { evoflow, evoflowOnce, until, type CliProcess } from "./cli";
import { freePort, NatsServer } from "./server";

const pipeline = {
  apiVersion: "evoflow/v1",
  name: "ghost",
  nodes: [
    { id: "gen", type: "io.generator", config: { source: { kind: "synthetic", count: 20, features: 2, seed: 9 } } },
    { id: "tag", type: "transform.set", placement: "a", config: { set: { tagged: true } } },
    { id: "out", type: "io.sink" },
  ],
  edges: [
    { from: "gen.out", to: "tag.in", mode: "async" },
    { from: "tag.out", to: "out.in", mode: "async" },
  ],
};

const cleanups: (() => Promise<unknown> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

it("withdraws the definitions of a coordinator that stops cleanly; the workers follow, the stream stays", async () => {
  const server = await NatsServer.start();
  cleanups.push(() => server.dispose());
  const dir = mkdtempSync(join(tmpdir(), "evoflow-ghost-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, "ghost.json"), JSON.stringify(pipeline));
  const processes: CliProcess[] = [];
  cleanups.push(() => Promise.all(processes.map((p) => p.kill("SIGKILL"))));
  let port = 0;
  const startCoordinator = async () => {
    port = await freePort();
    const coordinator = evoflow(["run", join(dir, "ghost.json"), "--nats", server.url, "--port", String(port), "--data", join(dir, "coord"), "--no-auth"]);
    processes.push(coordinator);
    await coordinator.waitFor(/listening on/);
    return coordinator;
  };
  const coordinator = await startCoordinator();
  const worker = evoflow(["worker", "--nats", server.url, "--placement", "a", "--data", join(dir, "worker")]);
  processes.push(worker);
  await worker.waitFor(/running ghost/);
  const reader = await NatsTransport.connect({ servers: server.url, role: "worker" });
  cleanups.push(() => reader.close());
  await until("the 20 messages through both edges", async () => {
    const { lag } = await reader.status("ghost");
    return lag["tag_out-out_in"] && Object.values(lag).every((l) => l.pending === 0 && l.ackPending === 0) ? true : undefined;
  });
  expect((await reader.status("ghost")).processes.map((p) => p.role).sort()).toEqual(["coordinator", "worker"]);

  expect(await coordinator.kill("SIGTERM")).toBe(0);
  expect((await reader.definitions()).has("ghost")).toBe(false);
  await worker.waitFor(/pipeline ghost removed/);
  const stopped = await until("no process left running ghost", async () => {
    const status = await reader.status("ghost");
    return status.processes.length === 0 ? status : undefined;
  });
  expect(stopped.placement).toEqual({});
  // The messages stay in the stream and read back by edge, from the definition's history.
  const tap = await evoflowOnce(["tap", "ghost", "tag_out-out_in", "--nats", server.url, "--last", "5"]);
  expect(tap.code).toBe(0);
  expect(tap.stdout.trim().split("\n").map((l) => JSON.parse(l).message.payload.tagged)).toEqual([true, true, true, true, true]);
  // And a trace of a pipeline nobody runs any more is found without naming the pipeline.
  const traceId = JSON.parse(tap.stdout.trim().split("\n")[0]).message.traceId;
  const trace = await evoflowOnce(["trace", traceId, "--nats", server.url]);
  expect(trace.code, trace.stderr).toBe(0);
  expect(trace.stdout).toContain(`trace ${traceId} in pipeline ghost`);

  // Deployed again: the worker takes its share back.
  await startCoordinator();
  await until("the worker running ghost again", () => (worker.output.match(/running ghost/g)?.length === 2 ? true : undefined));
  expect((await reader.definitions()).has("ghost")).toBe(true);

  // Deleted through the API (the coordinator goes on running): the definition goes too, and the worker follows.
  const deleted = await fetch(`http://127.0.0.1:${port}/api/pipelines/ghost`, { method: "DELETE" });
  expect(deleted.status).toBe(200);
  expect((await reader.definitions()).has("ghost")).toBe(false);
  await until("the worker to stop ghost again", () => (worker.output.match(/pipeline ghost removed/g)?.length === 2 ? true : undefined));
});
