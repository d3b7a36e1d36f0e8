/**
 * postgres.insert and postgres.read against a real PostgreSQL 15 (Debian's) child process:
 * batched inserts and upserts with columns mapped from the payload, column types checked at
 * deploy (an error at the column's JSON path), payloads that do not fit dead-lettered alone,
 * new rows read by an increasing key, woken by NOTIFY.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadNode } from "../../testing";
import { builtin } from "../nodes/builtin";
import { stoppedAfterEach } from "./loaded-nodes";
import { PostgresServer } from "./postgres-server";

const insert = builtin("postgres.insert");
const read = builtin("postgres.read");
let db: PostgresServer;
const load = stoppedAfterEach();

beforeAll(async () => {
  db = await PostgresServer.start();
  await db.sql("create table readings (id bigserial primary key, sensor text not null, temp double precision, ok boolean, at timestamptz, extra jsonb)");
  await db.sql("create table latest (sensor text primary key, temp double precision not null)");
}, 60_000);
afterAll(async () => {
  await db?.close();
});

const readingColumns = {
  sensor: { from: "name", type: "text" },
  temp: { from: "reading.temp", type: "number" },
  ok: { type: "boolean", nullable: true },
  extra: { type: "json", nullable: true },
};

describe("postgres.insert", () => {
  it("inserts rows with columns mapped from the payload, many messages in one batch", async () => {
    const node = await load(insert, { config: { url: db.url, table: "readings", columns: readingColumns }, grants: ["network"] });
    await Promise.all(Array.from({ length: 20 }, (_, i) => node.send("in", { name: `s${i}`, reading: { temp: 20 + i / 10 }, ok: i % 2 === 0, extra: { i } })));
    const rows = await db.sql<{ sensor: string; temp: number; ok: boolean; extra: { i: number } }>("select sensor, temp, ok, extra from readings where sensor like 's%' order by id");
    expect(rows).toHaveLength(20);
    expect(rows[3]).toEqual({ sensor: "s3", temp: 20.3, ok: false, extra: { i: 3 } });
    expect(node.status()).toMatchObject({ inserted: 20, connection: "connected" });
  });

  it("upserts on a key: a message delivered twice is stored once, the last value kept", async () => {
    const node = await load(insert, { config: { url: db.url, table: "latest", columns: { sensor: { type: "text" }, temp: { type: "number" } }, conflict: { on: ["sensor"] } }, grants: ["network"] });
    await node.send("in", { sensor: "a", temp: 1 });
    await node.send("in", { sensor: "a", temp: 1 });
    await node.send("in", { sensor: "a", temp: 2 });
    expect(await db.sql("select sensor, temp from latest")).toEqual([{ sensor: "a", temp: 2 }]);
  });

  it("refuses at deploy a column whose declared type the table's column does not hold, or that it lacks, naming it at its JSON path", async () => {
    await expect(loadNode(insert, { config: { url: db.url, table: "readings", columns: { temp: { type: "text" } } }, grants: ["network"] })).rejects.toThrow(
      /\$\.config\.columns\.temp: column "temp" of public\.readings is double precision, which does not hold text \(use number\)/,
    );
    await expect(loadNode(insert, { config: { url: db.url, table: "readings", columns: { humidity: { type: "number" } } }, grants: ["network"] })).rejects.toThrow(
      /\$\.config\.columns\.humidity: table public\.readings has no column "humidity"/,
    );
    await expect(loadNode(insert, { config: { url: db.url, table: "nope", columns: { a: { type: "text" } } }, grants: ["network"] })).rejects.toThrow(/postgres table public\.nope does not exist/);
  });

  it("dead-letters a payload that does not fit, with the column and path, and the database's refusals one row at a time", async () => {
    const node = await load(insert, { config: { url: db.url, table: "readings", columns: readingColumns }, grants: ["network"] });
    await node.send("in", { name: "bad", reading: { temp: "hot" } });
    await node.send("in", { reading: { temp: 1 } });
    // Valid JSON for a double, refused by PostgreSQL: only this row fails, its neighbours in the batch are stored.
    await Promise.all([node.send("in", { name: "n1", reading: { temp: 1 } }), node.send("in", { name: "n2\u0000", reading: { temp: 2 } }), node.send("in", { name: "n3", reading: { temp: 3 } })]);
    const reasons = node.deadLetters().map((d) => d.reason);
    expect(reasons).toEqual([
      expect.stringMatching(/column "temp": \$\.reading\.temp is "hot", not number/),
      expect.stringMatching(/column "sensor": the payload has no value at \$\.name/),
      expect.stringMatching(/^postgres insert into public\.readings: invalid byte sequence .*0x00/),
    ]);
    expect((await db.sql<{ sensor: string }>("select sensor from readings where sensor in ('n1','n3') order by sensor")).map((r) => r.sensor)).toEqual(["n1", "n3"]);
  });
});

describe("postgres.read", () => {
  it("emits the new rows in key order, and a NOTIFY wakes it before the next poll", async () => {
    await db.sql("create table events (id serial primary key, kind text, at timestamptz default '2026-01-01T00:00:00Z')");
    await db.sql("insert into events (kind) values ('a'), ('b')");
    const node = await load(read, { config: { url: db.url, table: "events", key: "id", pollMs: 60_000, notifyChannel: "events_new" }, grants: ["network"] });
    expect((await node.next("out")).payload).toEqual({ id: 1, kind: "a", at: "2026-01-01T00:00:00.000Z" });
    expect((await node.next("out")).payload).toMatchObject({ id: 2, kind: "b" });
    await db.sql("insert into events (kind) values ('c')");
    await db.sql("notify events_new");
    expect((await node.next("out", { timeout: 5000 })).payload).toMatchObject({ id: 3, kind: "c" });
    expect(node.status()).toMatchObject({ connection: "connected", emitted: 3, after: 3, notifications: 1 });
  });

  it("refuses a key column the table lacks at its JSON path", async () => {
    await expect(loadNode(read, { config: { url: db.url, table: "events", key: "seq" }, grants: ["network"] })).rejects.toThrow(/\$\.config\.key: table public\.events has no column "seq"/);
  });
});
