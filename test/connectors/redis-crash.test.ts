/**
 * At least once across a crash, with the real CLI and a real redis-server: `evoflow run` reads a
 * stream of 50 entries through a consumer group into a node that never answers entry 30; the
 * process is killed (SIGKILL) there. A second run of the same pipeline name and node id (the
 * same consumer) first takes back the entries it read but never acknowledged and copies them to
 * another stream: every entry from 30 on arrives, and none of those acknowledged before the crash.
 * And backpressure: a full `block` edge stops XREADGROUP instead of reading the stream into memory.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { startRun } from "../packages/cli";
import { holdPackage, untilIn } from "./hold-package";
import { RedisServer } from "./redis-server";

let server: RedisServer;
beforeAll(async () => {
  server = await RedisServer.start();
});
afterAll(async () => {
  await server?.close();
});

it("entries read but not handed on when the process dies are read again by the restarted consumer", async () => {
  const root = mkdtempSync(path.join(tmpdir(), "evoflow-redis-crash-"));
  const pkg = holdPackage(mkdtempSync(path.join(root, "pkg-")));
  const source = { id: "in", type: "redis.read", config: { url: server.url, stream: "jobs", group: "workers", startAt: "all", count: 8 } };
  const pipeline = (nodes: unknown[], edges: unknown[]) => JSON.stringify({ apiVersion: "evoflow/v1", name: "crash", nodes: [source, ...nodes], edges });
  const redis = server.client();
  try {
    for (let n = 0; n < 50; n++) await redis.xadd("jobs", "*", "data", JSON.stringify(n === 30 ? { n, hold: true } : { n }));
    const first = path.join(root, "first.json");
    writeFileSync(first, pipeline([{ id: "hold", type: "hold.until" }], [{ from: "in.out", to: "hold.in", mode: "sync" }]));
    const run1 = await startRun([first, "--nodes", pkg], path.join(root, "data"));
    try {
      expect(await untilIn(run1, "crash", "hold", 31)).toBe(31);
    } finally {
      run1.kill();
    }
    // Entries 24..31 were read in one XREADGROUP (8 at a time) and never acknowledged.
    expect(((await redis.xpending("jobs", "workers")) as [number])[0]).toBe(8);

    const second = path.join(root, "second.json");
    writeFileSync(second, pipeline([{ id: "copy", type: "redis.add", config: { url: server.url, stream: "copied" } }], [{ from: "in.out", to: "copy.in", mode: "sync" }]));
    const run2 = await startRun([second], path.join(root, "data"));
    try {
      const deadline = Date.now() + 10_000;
      while ((await redis.xlen("copied")) < 26 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      const copied = ((await redis.xrange("copied", "-", "+")) as [string, string[]][]).map(([, f]) => (JSON.parse(f[1]) as { n: number }).n);
      // The pending 24..31 again (at least once), then the unread rest; nothing acknowledged before the crash.
      expect(copied).toEqual(Array.from({ length: 26 }, (_, i) => 24 + i));
      expect(((await redis.xpending("jobs", "workers")) as [number])[0]).toBe(0);
    } finally {
      run2.stop();
    }
  } finally {
    redis.disconnect();
  }
}, 60_000);

it("a full block edge stops the reading: the group reads no further than the edge holds", async () => {
  const root = mkdtempSync(path.join(tmpdir(), "evoflow-redis-full-"));
  const pkg = holdPackage(mkdtempSync(path.join(root, "pkg-")));
  const redis = server.client();
  try {
    for (let n = 0; n < 500; n++) await redis.xadd("full", "*", "data", JSON.stringify({ n, hold: true }));
    const file = path.join(root, "full.json");
    writeFileSync(
      file,
      JSON.stringify({
        apiVersion: "evoflow/v1",
        name: "full",
        nodes: [
          { id: "in", type: "redis.read", config: { url: server.url, stream: "full", group: "g", startAt: "all", count: 8 } },
          { id: "hold", type: "hold.until" },
        ],
        edges: [{ from: "in.out", to: "hold.in", mode: "async", queue: { capacity: 4, overflow: "block" } }],
      }),
    );
    const run = await startRun([file, "--nodes", pkg], path.join(root, "data"));
    try {
      expect(await untilIn(run, "full", "hold", 1)).toBe(1);
      await new Promise((r) => setTimeout(r, 1500));
      // One entry in the node, four in the edge, the sixth waiting for room: one XREADGROUP of 8, no more.
      const [group] = (await redis.xinfo("GROUPS", "full")) as unknown[][];
      const info = Object.fromEntries(Array.from({ length: group.length / 2 }, (_, i) => [group[2 * i], group[2 * i + 1]]));
      expect(info).toMatchObject({ pending: 8, "entries-read": 8 });
    } finally {
      run.kill();
    }
  } finally {
    redis.disconnect();
  }
}, 30_000);
