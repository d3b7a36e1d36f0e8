/**
 * `evoflow worker --grant`: a worker grants what a Runtime does when told nothing (fs-write,
 * network: no exec), whatever its coordinator grants, so a pipeline whose node needs exec is
 * not run there and the worker says which node and why; `--grant exec`, or the data folder's
 * settings `grants`, lets it run. Real processes on a real nats-server.
 */
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { evoflow, evoflowOnce, type CliProcess } from "../nats/cli";
import { freePort, NatsServer } from "../nats/server";

const trainerPipeline = {
  apiVersion: "evoflow/v1",
  name: "ext",
  nodes: [
    { id: "labels", type: "io.http", config: { name: "ext-labels" } },
    { id: "trainer", type: "trainer.external", placement: "train", config: { model: "ext", command: ["touch", "pwned"] } },
  ],
  edges: [{ from: "labels.out", to: "trainer.data", mode: "async" }],
};

describe("evoflow worker --grant", () => {
  let server: NatsServer;
  let dir: string;
  const processes: CliProcess[] = [];
  const start = (args: string[]) => {
    const p = evoflow(args);
    processes.push(p);
    return p;
  };

  beforeAll(async () => {
    server = await NatsServer.start();
    dir = mkdtempSync(join(tmpdir(), "evoflow-worker-grants-"));
    writeFileSync(join(dir, "ext.json"), JSON.stringify(trainerPipeline));
    const coordinator = start(["run", join(dir, "ext.json"), "--nats", server.url, "--port", String(await freePort()), "--data", join(dir, "coord"), "--no-auth", "--grant", "exec"]);
    await coordinator.waitFor(/listening on/);
  }, 60_000);

  afterAll(async () => {
    await Promise.all(processes.map((p) => p.kill("SIGKILL")));
    await server?.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  it("refuses an exec node by default and runs it with --grant exec or the settings' grants", async () => {
    const settingsData = join(dir, "worker-settings");
    mkdirSync(settingsData);
    writeFileSync(join(settingsData, "settings.json"), JSON.stringify({ grants: ["exec"] }));
    const [plain, granted, bySettings] = [
      start(["worker", "--nats", server.url, "--placement", "train", "--data", join(dir, "worker-plain")]),
      start(["worker", "--nats", server.url, "--placement", "train", "--data", join(dir, "worker-granted"), "--grant", "exec"]),
      start(["worker", "--nats", server.url, "--placement", "train", "--data", settingsData]),
    ];
    await plain.waitFor(/cannot run pipeline ext/);
    expect(plain.output).toMatch(/grants: fs-write, network\n/);
    expect(plain.output).toMatch(/cannot run pipeline ext: \$\.nodes\[1\]\.type: node "trainer" \(trainer\.external\) needs the "exec" capability, which this runtime does not grant: start it with --grant exec/);
    expect(plain.output).not.toMatch(/running ext/);

    await granted.waitFor(/running ext: trainer/);
    expect(granted.output).toMatch(/grants: exec\n/);
    await bySettings.waitFor(/running ext: trainer/);
    expect(bySettings.output).not.toMatch(/cannot run/);
  }, 60_000);

  it("refuses an unknown capability with exit 2 before connecting", async () => {
    const bad = await evoflowOnce(["worker", "--nats", server.url, "--grant", "exec,root"]);
    expect(bad).toMatchObject({ code: 2, stderr: expect.stringMatching(/^--grant: unknown capability root \(known: exec, fs-write, network, or all, none\)/) });
  });
});
