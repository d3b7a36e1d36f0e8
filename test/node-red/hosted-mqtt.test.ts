/**
 * Node-RED's mqtt in → function → mqtt out, each hosted in a pipeline on the embedded Node-RED
 * runtime, against a real mosquitto (Debian's) that takes only a user with a password: the
 * inline mqtt-broker config node gets its credentials from the secret store.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connectAsync, type MqttClient } from "mqtt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { formatPipeline } from "../../runtime/canonical";
import { Runtime } from "../../runtime/runtime";
import { SecretStore } from "../../runtime/secrets";
import { Mosquitto } from "../connectors/mosquitto";

const PASSWORD = "mq-Pa55-hosted";
const dataDir = mkdtempSync(join(tmpdir(), "evoflow-node-red-mqtt-"));
const rt = new Runtime({ dataDir, grants: ["exec"] });
let broker: Mosquitto;
let client: MqttClient;

beforeAll(async () => {
  broker = await Mosquitto.start({ users: { plant: PASSWORD } });
  client = await connectAsync(broker.url, { username: "plant", password: PASSWORD });
  const secrets = new SecretStore(dataDir);
  await secrets.set("mq-user", "plant");
  await secrets.set("mq-password", PASSWORD);
});
afterAll(async () => {
  await rt.close();
  await client?.endAsync();
  await broker?.close();
});

describe("Node-RED's mqtt nodes hosted in a pipeline", () => {
  it("mqtt in → function → mqtt out moves each message through mosquitto as Node-RED would", async () => {
    const brokerNode = { broker: "127.0.0.1", port: broker.port, protocolVersion: "4", credentials: { user: "${secret:mq-user}", password: "${secret:mq-password}" } };
    const running = await rt.deploy({
      apiVersion: "evoflow/v1",
      name: "nr-mqtt",
      nodes: [
        { id: "readings", type: "node-red.mqtt-in", config: { topic: "plant/+/reading", qos: "1", datatype: "json", broker: brokerNode } },
        { id: "double", type: "node-red.function", config: { func: "msg.payload = { doubled: msg.payload.n * 2 };\nreturn msg;" } },
        { id: "publish", type: "node-red.mqtt-out", config: { topic: "plant/doubled", qos: "1", broker: brokerNode } },
      ],
      edges: [
        { from: "readings.out", to: "double.in" },
        { from: "double.out", to: "publish.in" },
      ],
    });
    const got: unknown[] = [];
    client.on("message", (_topic, body) => got.push(JSON.parse(body.toString())));
    await client.subscribeAsync("plant/doubled", { qos: 1 });
    // mqtt in connects on its own after deploy: its status, as Node-RED's editor shows it, says when.
    const deadline = Date.now() + 10_000;
    while (running.status().nodes.readings.text !== "connected" && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(running.status().nodes.readings).toMatchObject({ fill: "green", shape: "dot" });
    for (const n of [1, 2, 3]) await client.publishAsync(`plant/${n}/reading`, JSON.stringify({ n }), { qos: 1 });
    while (got.length < 3 && Date.now() < deadline + 10_000) await new Promise((r) => setTimeout(r, 50));
    expect(got).toEqual([{ doubled: 2 }, { doubled: 4 }, { doubled: 6 }]);
    expect(running.status().nodes.double).toMatchObject({ received: 3, sent: 3, failed: 0 });
    expect(formatPipeline(running.compiled.pipeline)).not.toContain(PASSWORD);
  }, 30_000);
});
