/**
 * A worker lacking a node package the pipeline requires, on a real nats-server: the coordinator
 * (`evoflow run --nats`, the example package loaded with --nodes) deploys a pipeline whose
 * `acme.scale` node is placed on group "a"; a worker of group "a" started without the package
 * refuses it with validate's message (JSON path and install command), and the pipeline's status
 * shows that reason on the node. A worker that has the package then runs it, and the refusal
 * goes when its worker stops.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { evoflow, until, type CliProcess } from "./cli";
import { freePort, NatsServer } from "./server";

const EXAMPLE = resolve(import.meta.dirname, "../../examples/node-package");
const INSTALL = "evoflow nodes install evoflow-nodes-acme@^1.0.0";

const pipeline = {
  apiVersion: "evoflow/v1",
  name: "acme-remote",
  requires: { "evoflow-nodes-acme": "^1.0.0" },
  nodes: [
    { id: "request", type: "io.http" },
    { id: "double", type: "acme.scale", placement: "a", config: { factor: 2 } },
  ],
  edges: [{ from: "request.out", to: "double.in", mode: "sync" }],
};

interface Status {
  refused?: { process: string; nodes: string[]; problems: { path: string; message: string }[] }[];
  nodes: Record<string, { refused?: string }>;
  placement: Record<string, { replicas: number }>;
}

describe("a worker without a required node package", () => {
  let server: NatsServer;
  let dir: string;
  let api: string;
  const processes: CliProcess[] = [];

  const status = async (): Promise<Status> => (await fetch(`${api}/api/pipelines/acme-remote/status`)).json() as Promise<Status>;

  beforeAll(async () => {
    server = await NatsServer.start();
    dir = mkdtempSync(join(tmpdir(), "evoflow-requires-nats-"));
    writeFileSync(join(dir, "acme-remote.json"), JSON.stringify(pipeline));
    const port = await freePort();
    api = `http://127.0.0.1:${port}`;
    const coordinator = evoflow(["run", join(dir, "acme-remote.json"), "--nats", server.url, "--port", String(port), "--data", join(dir, "coord"), "--no-auth", "--nodes", EXAMPLE]);
    processes.push(coordinator);
    await coordinator.waitFor(/listening on/);
  }, 60_000);

  afterAll(async () => {
    for (const p of processes) await p.kill("SIGKILL");
    await server?.dispose();
  });

  it("refuses the node with validate's message, and the pipeline's status shows it", async () => {
    const lacking = evoflow(["worker", "--nats", server.url, "--placement", "a", "--data", join(dir, "worker-lacking")]);
    processes.push(lacking);
    await lacking.waitFor(/cannot run pipeline acme-remote/);
    expect(lacking.output).toContain(`$.nodes[1].type: node type "acme.scale" comes from package "evoflow-nodes-acme" (^1.0.0), which is not installed here: ${INSTALL}`);

    const refused = await until("the refusal in the status", async () => ((await status()).refused?.length ? status() : undefined), 20_000);
    expect(refused.refused).toEqual([
      {
        process: expect.any(String),
        pipeline: "acme-remote",
        nodes: ["double"],
        problems: [
          { path: '$.requires["evoflow-nodes-acme"]', message: `package "evoflow-nodes-acme" (^1.0.0) is not installed here: ${INSTALL}` },
          { path: "$.nodes[1].type", message: `node type "acme.scale" comes from package "evoflow-nodes-acme" (^1.0.0), which is not installed here: ${INSTALL}` },
        ],
        since: expect.any(String),
      },
    ]);
    expect(lacking.output).toContain(refused.refused![0].process);
    // On the node itself (the editor's node panel lists it among the node's figures): the problem on that node.
    expect(refused.nodes.double.refused).toBe(`${refused.refused![0].process}: $.nodes[1].type: node type "acme.scale" comes from package "evoflow-nodes-acme" (^1.0.0), which is not installed here: ${INSTALL}`);
    expect(refused.placement.double.replicas).toBe(0);
  });

  it("a worker with the package runs the node; the refusal goes with the worker that made it", async () => {
    const having = evoflow(["worker", "--nats", server.url, "--placement", "a", "--data", join(dir, "worker-having"), "--node-packages", EXAMPLE]);
    processes.push(having);
    await having.waitFor(/running acme-remote: double/);
    const answer = await fetch(`${api}/pipelines/acme-remote`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ value: 21 }) });
    expect(await answer.json()).toEqual({ value: 42 });

    expect((await status()).refused).toHaveLength(1);
    await processes[1].kill("SIGTERM");
    const after = await until("the refusal withdrawn", async () => {
      const s = await status();
      return s.refused?.length === 0 ? s : undefined;
    }, 20_000);
    expect(after.nodes.double?.refused).toBeUndefined();
    expect(after.placement.double.replicas).toBe(1);
  });
});
