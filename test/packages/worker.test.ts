/**
 * The example package exactly as a user installs it: `npm pack`, then `evoflow nodes install
 * <tarball>` into data folders, then its pipeline run in-process by `evoflow run` and
 * distributed: a coordinator on a real nats-server and an `evoflow worker` whose only source
 * for the acme types is the package installed in its own data folder.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { evoflow as evoflowSync, post, ROOT, startRun, type Server } from "./cli";
import { evoflow, type CliProcess } from "../nats/cli";
import { freePort, NatsServer } from "../nats/server";

const work = mkdtempSync(path.join(tmpdir(), "evoflow-pkg-worker-"));
const demo = JSON.parse(readFileSync(path.join(ROOT, "examples/node-package/test/acme-demo.json"), "utf8"));
const processes: CliProcess[] = [];
let nats: NatsServer;
let inProcess: Server;
let tarball: string;

function installInto(data: string): void {
  const run = evoflowSync(["nodes", "install", tarball, "--data", data], work);
  if (run.status !== 0) throw new Error(`evoflow nodes install exited ${run.status}:\n${run.stderr}`);
}

beforeAll(async () => {
  execFileSync("npm", ["pack", "--pack-destination", work], { cwd: path.join(ROOT, "examples/node-package"), stdio: "pipe" });
  tarball = path.join(work, readdirSync(work).find((f) => f.endsWith(".tgz"))!);
  for (const data of ["local", "coordinator", "worker"]) installInto(path.join(work, data));
  // The acme nodes run on the worker; the HTTP entry point stays with the coordinator.
  const placed = { ...demo, nodes: demo.nodes.map((n: { type: string }) => (n.type.startsWith("acme.") ? { ...n, placement: "acme" } : n)) };
  writeFileSync(path.join(work, "placed.json"), JSON.stringify(placed));
  writeFileSync(path.join(work, "demo.json"), JSON.stringify(demo));
  [nats, inProcess] = await Promise.all([NatsServer.start(), startRun([path.join(work, "demo.json")], path.join(work, "local"), work)]);
}, 120_000);

afterAll(async () => {
  inProcess?.stop();
  await Promise.all(processes.map((p) => p.kill("SIGKILL")));
  await nats?.dispose();
});

describe("the example package installed with evoflow nodes install", () => {
  it("runs in-process", async () => {
    expect(await post(inProcess, "/pipelines/acme-demo", { value: 21 })).toEqual({ status: 200, body: { value: 42, count: 1 } });
  });

  it("runs on a NATS worker that finds it in its data folder", async () => {
    const port = await freePort();
    const coordinator = evoflow(["run", path.join(work, "placed.json"), "--nats", nats.url, "--port", String(port), "--data", path.join(work, "coordinator"), "--no-auth"], {});
    processes.push(coordinator);
    await coordinator.waitFor(/listening on/);
    const worker = evoflow(["worker", "--nats", nats.url, "--placement", "acme", "--data", path.join(work, "worker")]);
    processes.push(worker);
    await worker.waitFor(/running acme-demo: count, double/);

    const answers = [];
    for (const value of [21, 5]) {
      const res = await fetch(`http://127.0.0.1:${port}/pipelines/acme-demo`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ value }) });
      answers.push({ status: res.status, body: await res.json() });
    }
    expect(answers).toEqual([
      { status: 200, body: { value: 42, count: 1 } },
      { status: 200, body: { value: 10, count: 2 } },
    ]);
    const status = (await (await fetch(`http://127.0.0.1:${port}/api/pipelines/acme-demo/status`)).json()) as {
      processes: { id: string; role: string }[];
      placement: Record<string, { processes: string[] }>;
    };
    const roleOf = (node: string) => status.placement[node].processes.map((id) => status.processes.find((p) => p.id === id)!.role);
    expect(roleOf("double")).toEqual(["worker"]);
    expect(roleOf("count")).toEqual(["worker"]);
  }, 60_000);

  it("is refused by a worker whose data folder lacks it, naming the type", async () => {
    const bare = evoflow(["worker", "--nats", nats.url, "--placement", "acme", "--data", path.join(work, "bare")]);
    processes.push(bare);
    const refused = await bare.waitFor(/cannot run pipeline acme-demo: ([^\n]*)/);
    expect(refused[1]).toContain("acme.count");
  }, 60_000);
});
