/**
 * At least once across a crash, with the real CLI: `evoflow run` holds a pipeline
 * mqtt.subscribe → (sync edge) → a node that never answers, on a real mosquitto; the message
 * reaches that node, the process is killed (SIGKILL) before the hand-off finished, and the
 * broker gives the same message to the next client of that session. The control: a message
 * the first edge took is acknowledged and never comes again.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { connectAsync } from "mqtt";
import { afterAll, beforeAll, expect, it } from "vitest";
import { loadNode } from "../../testing";
import { builtin } from "../nodes/builtin";
import { startRun } from "../packages/cli";
import { holdPackage, holdPipeline, nodeIn } from "./hold-package";
import { Mosquitto } from "./mosquitto";

let broker: Mosquitto;
beforeAll(async () => {
  broker = await Mosquitto.start();
});
afterAll(async () => {
  await broker?.close();
});

it("a message not yet handed off when the process dies is delivered again; one handed off is not", async () => {
  const root = mkdtempSync(path.join(tmpdir(), "evoflow-mqtt-crash-"));
  const pkg = holdPackage(mkdtempSync(path.join(root, "pkg-")));
  const clientId = "evoflow-test-crash";
  const file = holdPipeline(root, "mqtt.subscribe", { url: broker.url, topics: ["jobs/#"], qos: 1, clientId });
  const server = await startRun([file, "--nodes", pkg], path.join(root, "data"));
  const publisher = await connectAsync(broker.url);
  try {
    await publisher.publishAsync("jobs/1", JSON.stringify({ n: 1 }), { qos: 1 });
    await publisher.publishAsync("jobs/2", JSON.stringify({ n: 2, hold: true }), { qos: 1 });
    const deadline = Date.now() + 10_000;
    while ((await nodeIn(server, "crash", "hold")) < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(await nodeIn(server, "crash", "hold")).toBe(2);
  } finally {
    server.kill();
  }
  await new Promise((r) => setTimeout(r, 500)); // the broker sees the connection drop
  await publisher.publishAsync("jobs/3", JSON.stringify({ n: 3 }), { qos: 1 });
  await publisher.endAsync();

  const again = await loadNode(builtin("mqtt.subscribe"), { config: { url: broker.url, topics: ["jobs/#"], qos: 1, clientId }, grants: ["network"] });
  try {
    const got = [(await again.next("out")).payload, (await again.next("out")).payload];
    // n 1 was acknowledged before the crash; n 2 comes again, then what was sent meanwhile.
    expect(got).toEqual([{ n: 2, hold: true }, { n: 3 }]);
  } finally {
    await again.stop();
  }
}, 30_000);
