/**
 * The sensor-scoring example end to end, as a user runs it: real mosquitto (with a password),
 * PostgreSQL and redis-server child processes; the model registered and the passwords stored with
 * the CLI; `evoflow run` of pipelines/sensor-scoring.json with only its server addresses changed.
 * 60 steady readings and 30 of a failing motor are published as CSV lines (and one that is not
 * CSV); every reading must land in the predictions table with the real model's risk, the failing
 * ones high, a drift alarm on the Redis stream after the step and none before, the bad line a dead
 * letter.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { Redis } from "ioredis";
import { connectAsync } from "mqtt";
import { afterAll, beforeAll, expect, it } from "vitest";
import { sensorHealthModel } from "../../scripts/sensor-health-model";
import { evoflow, ROOT, startRun, type Server } from "../packages/cli";
import { Mosquitto } from "./mosquitto";
import { PostgresServer } from "./postgres-server";
import { RedisServer } from "./redis-server";

const EXAMPLE = path.join(ROOT, "pipelines/sensor-scoring.json");
const READINGS = readFileSync(path.join(ROOT, "pipelines/sensor-scoring.drifting.jsonl"), "utf8")
  .trim()
  .split("\n")
  .map((line) => JSON.parse(line) as { sensor: string; ts: string; temperature: number; vibration: number; current: number });

let broker: Mosquitto;
let db: PostgresServer;
let redisServer: RedisServer;
let redis: Redis;
let run: Server | undefined;

beforeAll(async () => {
  [broker, db, redisServer] = await Promise.all([Mosquitto.start({ users: { evoflow: "mqtt-secret" } }), PostgresServer.start(), RedisServer.start()]);
  redis = redisServer.client();
}, 60_000);
afterAll(async () => {
  run?.stop();
  redis?.disconnect();
  await Promise.all([broker?.close(), db?.close(), redisServer?.close()]);
});

async function until<T>(what: string, read: () => Promise<T>, done: (v: T) => boolean, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  let value = await read();
  while (!done(value)) {
    if (Date.now() > deadline) throw new Error(`${what}: still ${JSON.stringify(value)?.slice(0, 300)} after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 100));
    value = await read();
  }
  return value;
}

it("scores MQTT readings into PostgreSQL and raises a drift alarm on the Redis stream", async () => {
  // The committed model is the one its script builds.
  expect(Buffer.from(readFileSync(path.join(ROOT, "pipelines/sensor-health.onnx"))).equals(Buffer.from(sensorHealthModel()))).toBe(true);
  await db.sql(
    "create table predictions (sensor text, ts timestamptz, temperature double precision, vibration double precision, current double precision, risk double precision, primary key (sensor, ts))",
  );
  const root = mkdtempSync(path.join(tmpdir(), "evoflow-sensor-scoring-"));
  const data = path.join(root, "data");
  const registered = evoflow(["model", "register", "pipelines/sensor-health.onnx", "--name", "sensor-health", "--promote", "--registry", path.join(data, "registry")]);
  expect(registered.stderr).toBe("");
  for (const [name, value] of [["mqtt-pw", "mqtt-secret"], ["pg-pw", "unused-by-trust-auth"], ["redis-pw", "unused-without-requirepass"]]) {
    const set = spawnSync(process.execPath, [path.join(ROOT, "bin/evoflow.js"), "secrets", "set", name, "--data", data], { input: value, encoding: "utf8" });
    expect(set.status, set.stderr).toBe(0);
  }

  // The example as it is, pointed at these servers (as you would at your own).
  const pipeline = JSON.parse(readFileSync(EXAMPLE, "utf8")) as { nodes: { id: string; config: Record<string, unknown> }[] };
  const url = { readings: broker.url, store: db.url, alarms: redisServer.url };
  for (const node of pipeline.nodes) if (node.id in url) node.config.url = url[node.id as keyof typeof url];
  const file = path.join(root, "sensor-scoring.json");
  writeFileSync(file, JSON.stringify(pipeline));
  run = await startRun([file], data);

  const sensor = await connectAsync(broker.url, { username: "evoflow", password: "mqtt-secret" });
  await sensor.publishAsync("sensors/m1/readings", "m1,2026-12-07T07:59:59Z,55.0", { qos: 1 }); // a field short: not the declared columns
  for (const r of READINGS) await sensor.publishAsync(`sensors/${r.sensor}/readings`, [r.sensor, r.ts, r.temperature, r.vibration, r.current].join(","), { qos: 1 });
  await sensor.endAsync();

  const rows = await until(
    "rows in predictions",
    () => db.sql<{ sensor: string; ts: Date; vibration: number; risk: number }>("select sensor, ts, vibration, risk from predictions order by ts"),
    (r) => r.length >= READINGS.length,
  );
  expect(rows.map((r) => [r.sensor, r.ts.toISOString().replace(".000", ""), r.vibration])).toEqual(READINGS.map((r) => [r.sensor, r.ts, r.vibration]));
  const risks = rows.map((r) => r.risk);
  expect(Math.max(...risks.slice(0, 60))).toBeLessThan(0.2);
  expect(Math.min(...risks.slice(60))).toBeGreaterThan(0.9);

  const alarms = await until("alarms on sensor-alarms", () => redis.xrange("sensor-alarms", "-", "+"), (a) => a.length > 0);
  const events = alarms.map(([, fields]) => JSON.parse(fields[fields.indexOf("data") + 1]) as { kind: string; detector: string; index: number });
  expect(events.every((e) => e.kind === "drift" && e.detector === "page-hinkley" && e.index >= 60)).toBe(true);

  const res = await fetch(`${run.url}/api/pipelines/sensor-scoring/dead-letters`, { headers: { authorization: `Bearer ${run.token}` } });
  const letters = ((await res.json()) as { letters: { node: string; reason: string }[] }).letters;
  expect(letters).toEqual([expect.objectContaining({ node: "readings", reason: expect.stringMatching(/^mqtt message on sensors\/m1\/readings is not CSV \(Invalid Record Length/) })]);
}, 90_000);
