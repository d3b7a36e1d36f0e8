/**
 * A connector's reconnects as an operator sees them, through the real CLI: `evoflow run` with
 * mqtt.subscribe on a real mosquitto; the broker stops, and the node's status says reconnecting
 * with the error; it starts again on the same port, and the status says connected and `/metrics`
 * counts one reconnect for that pipeline and node.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { startRun, type Server } from "../packages/cli";
import { holdPackage, holdPipeline } from "./hold-package";
import { Mosquitto } from "./mosquitto";

let broker: Mosquitto;
beforeAll(async () => {
  broker = await Mosquitto.start();
});
afterAll(async () => {
  await broker?.close();
});

const get = async (server: Server, route: string) => fetch(`${server.url}${route}`, { headers: { authorization: `Bearer ${server.token}` } });
const nodeStatus = async (server: Server) => ((await (await get(server, "/api/pipelines/crash")).json()) as { status: { nodes: Record<string, Record<string, unknown>> } }).status.nodes.in;
const reconnectsMetric = async (server: Server) => /^evoflow_connector_reconnects_total\{pipeline="crash",node="in"\} (\d+)$/m.exec(await (await get(server, "/metrics")).text())?.[1];

async function until<T>(probe: () => Promise<T>, ok: (value: T) => boolean, ms = 15_000): Promise<T> {
  const deadline = Date.now() + ms;
  let value = await probe();
  while (!ok(value) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    value = await probe();
  }
  return value;
}

it("shows reconnecting with the last error while the broker is down, then connected, and /metrics counts the reconnect", async () => {
  const root = mkdtempSync(path.join(tmpdir(), "evoflow-reconnect-"));
  const pkg = holdPackage(mkdtempSync(path.join(root, "pkg-")));
  const file = holdPipeline(root, "mqtt.subscribe", { url: broker.url, topics: ["t/#"], clientId: "evoflow-test-reconnect-status" });
  const server = await startRun([file, "--nodes", pkg], path.join(root, "data"));
  try {
    expect(await nodeStatus(server)).toMatchObject({ connection: "connected", reconnects: 0 });
    expect(await reconnectsMetric(server)).toBeUndefined();
    await broker.stop();
    const down = await until(() => nodeStatus(server), (s) => s.lastError !== undefined);
    expect(down).toMatchObject({ connection: "reconnecting", reconnects: 0, lastError: expect.stringMatching(/ECONNREFUSED/) });
    await broker.restart();
    expect(await until(() => nodeStatus(server), (s) => s.connection === "connected")).toMatchObject({ connection: "connected", reconnects: 1 });
    expect(await reconnectsMetric(server)).toBe("1");
  } finally {
    server.kill();
  }
}, 40_000);
