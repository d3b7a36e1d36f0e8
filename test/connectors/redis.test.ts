/**
 * redis.read and redis.add against a real redis-server (Debian's) child process: a round trip
 * through a consumer group, XACK only after the first edge took the entry (a full edge stops the
 * reading), own pending entries read again after a restart, another consumer's stale entries
 * claimed with XAUTOCLAIM, unreadable entries to the dead letters, MAXLEN trimming, and the
 * sink's retries ending in a dead letter while the server is down.
 */
import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadNode } from "../../testing";
import { builtin } from "../nodes/builtin";
import { stoppedAfterEach } from "./loaded-nodes";
import { RedisServer } from "./redis-server";

const read = builtin("redis.read");
const add = builtin("redis.add");
let server: RedisServer;
let redis: Redis;
const load = stoppedAfterEach();
const pending = async (stream: string, group: string) => ((await redis.xpending(stream, group)) as [number])[0];

beforeAll(async () => {
  server = await RedisServer.start();
  redis = server.client();
});
afterAll(async () => {
  redis?.disconnect();
  await server?.close();
});

describe("redis.read", () => {
  it("reads new entries as a consumer group and acknowledges each once handed on", async () => {
    const node = await load(read, { config: { url: server.url, stream: "s1", group: "g" }, grants: ["network"] });
    await redis.xadd("s1", "*", "data", JSON.stringify({ n: 1 }));
    await redis.xadd("s1", "*", "data", JSON.stringify({ n: 2 }));
    expect((await node.next("out")).payload).toEqual({ n: 1 });
    expect((await node.next("out")).payload).toEqual({ n: 2 });
    const deadline = Date.now() + 5000;
    while ((await pending("s1", "g")) > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(await pending("s1", "g")).toBe(0);
    expect(node.status()).toMatchObject({ connection: "connected", received: 2, emitted: 2, deadLetters: 0 });
  });

  it("sends entries that are not JSON or lack the field to the dead letters, acknowledged, and goes on", async () => {
    const node = await load(read, { config: { url: server.url, stream: "s2", group: "g", output: "message" }, grants: ["network"] });
    await redis.xadd("s2", "*", "data", "{not json");
    await redis.xadd("s2", "*", "other", "x");
    const good = await redis.xadd("s2", "*", "data", "[1,2]");
    expect((await node.next("out")).payload).toEqual({ id: good, stream: "s2", payload: [1, 2] });
    expect(node.deadLetters()).toEqual([
      expect.objectContaining({ reason: expect.stringMatching(/^redis entry s2 \d+-\d+ is not JSON .*"\{not json"$/) }),
      expect.objectContaining({ reason: expect.stringMatching(/^redis entry s2 \d+-\d+ has no field "data"$/) }),
    ]);
    const deadline = Date.now() + 5000;
    while ((await pending("s2", "g")) > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(await pending("s2", "g")).toBe(0);
  });

  it("on start takes back its own pending entries (read before a crash, never acknowledged) before new ones", async () => {
    await redis.xgroup("CREATE", "s3", "g", "$", "MKSTREAM");
    await redis.xadd("s3", "*", "data", JSON.stringify({ n: 1 }));
    // Consumer c1 read it and died before XACK.
    await redis.xreadgroup("GROUP", "g", "c1", "COUNT", 10, "STREAMS", "s3", ">");
    await redis.xadd("s3", "*", "data", JSON.stringify({ n: 2 }));
    const node = await load(read, { config: { url: server.url, stream: "s3", group: "g", consumer: "c1" }, grants: ["network"] });
    expect([(await node.next("out")).payload, (await node.next("out")).payload]).toEqual([{ n: 1 }, { n: 2 }]);
    expect(node.status()).toMatchObject({ claimed: 0 });
  });

  it("claims what another consumer of the group read and left unacknowledged (it crashed) with XAUTOCLAIM", async () => {
    await redis.xgroup("CREATE", "s4", "g", "$", "MKSTREAM");
    await redis.xadd("s4", "*", "data", JSON.stringify({ n: "orphan" }));
    // A consumer that read the entry and died before XACK.
    await redis.xreadgroup("GROUP", "g", "dead", "COUNT", 10, "STREAMS", "s4", ">");
    expect(await pending("s4", "g")).toBe(1);
    const node = await load(read, { config: { url: server.url, stream: "s4", group: "g", claimIdleMs: 200 }, grants: ["network"] });
    expect((await node.next("out", { timeout: 5000 })).payload).toEqual({ n: "orphan" });
    expect(node.status()).toMatchObject({ claimed: 1 });
    const deadline = Date.now() + 5000;
    while ((await pending("s4", "g")) > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(await pending("s4", "g")).toBe(0);
  });

  it("reconnects after the server restarts and reads what is added then", async () => {
    const node = await load(read, { config: { url: server.url, stream: "s5", group: "g" }, grants: ["network"] });
    redis.disconnect();
    await server.stop();
    await server.restart();
    redis = server.client();
    const deadline = Date.now() + 10_000;
    while (node.status().connection !== "connected" && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    await redis.xadd("s5", "*", "data", JSON.stringify({ after: true }));
    expect((await node.next("out", { timeout: 10_000 })).payload).toEqual({ after: true });
    expect(node.status().reconnects).toBe(1);
  }, 20_000);

  it("reads the password from a file in the data folder, and refuses one outside it", async () => {
    await redis.config("SET", "requirepass", "s3cret");
    try {
      const node = await load(read, { config: { url: server.url, stream: "s6", group: "g", passwordFile: "redis.pw" }, grants: ["network"], files: { "redis.pw": "s3cret\n" } });
      expect(node.status()).toMatchObject({ connection: "connected" });
      await expect(loadNode(read, { config: { url: server.url, stream: "s6", group: "g" }, grants: ["network"] })).rejects.toThrow(/NOAUTH|Authentication required/);
      await expect(loadNode(read, { config: { url: server.url, stream: "s6", group: "g", passwordFile: "../../etc/passwd" }, grants: ["network"] })).rejects.toThrow(/passwordFile|outside|leaves/);
    } finally {
      await redis.call("AUTH", "s3cret").catch(() => {});
      await redis.config("SET", "requirepass", "");
    }
  });
});

describe("redis.add", () => {
  it("appends each message to the stream, trimmed to about maxLen entries", async () => {
    const node = await load(add, { config: { url: server.url, stream: "out1", maxLen: 10, approximate: false }, grants: ["network"] });
    for (let n = 0; n < 25; n++) await node.send("in", { n });
    expect(await redis.xlen("out1")).toBe(10);
    const [[, fields]] = (await redis.xrevrange("out1", "+", "-", "COUNT", 1)) as [string, string[]][];
    expect(JSON.parse(fields[1])).toEqual({ n: 24 });
    expect(node.status()).toMatchObject({ added: 25, connection: "connected" });
  });

  it("retries with backoff while the server is down, then dead-letters the message with the error", async () => {
    const node = await load(add, { config: { url: server.url, stream: "out2", retries: 2, backoffMs: 50 }, grants: ["network"] });
    redis.disconnect();
    await server.stop();
    try {
      await node.send("in", { lost: true }, { timeout: 10_000 });
      expect(node.deadLetters()).toEqual([expect.objectContaining({ payload: { lost: true }, reason: expect.stringMatching(/redis XADD out2: .*\(after 3 attempts\)$/) })]);
    } finally {
      await server.restart();
      redis = server.client();
    }
  }, 20_000);
});
