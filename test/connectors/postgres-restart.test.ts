/**
 * A PostgreSQL restart mid-stream (a fast shutdown, started again on the same port and data
 * folder), counted: every row inserted across it reaches postgres.read, and every message
 * postgres.insert handled is a row, at least once (the key makes it exactly once here).
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { builtin } from "../nodes/builtin";
import { stoppedAfterEach } from "./loaded-nodes";
import { PostgresServer } from "./postgres-server";
import { COUNT, missing, sendAcrossRestart, until } from "./restart-count";

let db: PostgresServer;
const load = stoppedAfterEach();
beforeAll(async () => {
  db = await PostgresServer.start();
  await db.sql("create table readings (id bigserial primary key, n integer not null)");
  await db.sql("create table alerts (n integer primary key)");
}, 60_000);
afterAll(async () => {
  await db?.close();
});

it("postgres.read: every row inserted across the restart arrives", async () => {
  const node = await load(builtin("postgres.read"), { config: { url: db.url, table: "readings", key: "id", pollMs: 100, batchSize: 20 }, grants: ["network"] });
  await sendAcrossRestart(COUNT, (n) => db.sql("insert into readings (n) values ($1)", [n]).then(() => undefined), db);
  await until(() => missing(COUNT, node.payloads("out")).length === 0);
  expect(missing(COUNT, node.payloads("out"))).toEqual([]);
  expect(node.status()).toMatchObject({ connection: "connected", reconnects: 1 });
}, 90_000);

it("postgres.insert: every message handled across the restart is a row", async () => {
  const node = await load(builtin("postgres.insert"), { config: { url: db.url, table: "alerts", columns: { n: { type: "integer" } }, conflict: { on: ["n"] } }, grants: ["network"] });
  await sendAcrossRestart(COUNT, (n) => node.send("in", { n }, { timeout: 60_000 }), db);
  expect(node.deadLetters()).toEqual([]);
  expect(missing(COUNT, await db.sql("select n from alerts"))).toEqual([]);
  expect(node.status()).toMatchObject({ connection: "connected", reconnects: 1, inserted: COUNT });
}, 90_000);
