/**
 * A redis-server restart mid-stream (SIGTERM, started again on the same port and append-only
 * file), counted: every entry added across it reaches redis.read, and every message redis.add
 * handled is in the stream, at least once.
 */
import type { Redis } from "ioredis";
import { afterAll, beforeAll, expect, it } from "vitest";
import { builtin } from "../nodes/builtin";
import { stoppedAfterEach } from "./loaded-nodes";
import { RedisServer } from "./redis-server";
import { COUNT, missing, sendAcrossRestart, until } from "./restart-count";

let server: RedisServer;
let redis: Redis;
const load = stoppedAfterEach();
beforeAll(async () => {
  server = await RedisServer.start();
  redis = server.client();
  redis.on("error", () => {});
});
afterAll(async () => {
  redis?.disconnect();
  await server?.close();
});

it("redis.read: every entry added across the restart arrives, and all are acknowledged", async () => {
  const node = await load(builtin("redis.read"), { config: { url: server.url, stream: "readings", group: "scoring", count: 20 }, grants: ["network"] });
  await sendAcrossRestart(COUNT, (n) => redis.xadd("readings", "*", "data", JSON.stringify({ n })).then(() => undefined), server);
  await until(() => missing(COUNT, node.payloads("out")).length === 0);
  expect(missing(COUNT, node.payloads("out"))).toEqual([]);
  expect(node.deadLetters()).toEqual([]);
  expect(node.status()).toMatchObject({ connection: "connected", reconnects: 1 });
  await until(async () => ((await redis.xpending("readings", "scoring")) as [number])[0] === 0, 10_000);
  expect(((await redis.xpending("readings", "scoring")) as [number])[0]).toBe(0);
}, 90_000);

it("redis.add: every message handled across the restart is in the stream", async () => {
  const node = await load(builtin("redis.add"), { config: { url: server.url, stream: "alerts" }, grants: ["network"] });
  await sendAcrossRestart(COUNT, (n) => node.send("in", { n }, { timeout: 60_000 }), server);
  expect(node.deadLetters()).toEqual([]);
  const entries = await redis.xrange("alerts", "-", "+");
  expect(missing(COUNT, entries.map(([, fields]) => JSON.parse(fields[1])))).toEqual([]);
  expect(node.status()).toMatchObject({ connection: "connected", reconnects: 1, added: COUNT });
}, 90_000);
