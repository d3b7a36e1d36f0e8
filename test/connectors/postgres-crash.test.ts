/**
 * Resuming after a crash, with the real CLI and a real PostgreSQL: `evoflow run` reads a table by
 * its increasing id, 2 rows a query, into a node that never answers row 6; the process is killed
 * (SIGKILL) there. A second run of the same pipeline (same data folder) goes on after the last
 * position saved, rows 1..4, and copies the rest into another table: rows 5..10 all arrive
 * (5 a second time: at least once), rows 1..4 do not come again.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { startRun } from "../packages/cli";
import { holdPackage, untilIn } from "./hold-package";
import { PostgresServer } from "./postgres-server";

let db: PostgresServer;
beforeAll(async () => {
  db = await PostgresServer.start();
}, 60_000);
afterAll(async () => {
  await db?.close();
});

it("a restarted reader goes on after the last row handed on, and every row arrives at least once", async () => {
  await db.sql("create table jobs (id serial primary key, hold boolean not null default false)");
  await db.sql("create table copied (id integer primary key)");
  await db.sql("insert into jobs (hold) select n = 6 from generate_series(1, 10) n");
  const root = mkdtempSync(path.join(tmpdir(), "evoflow-postgres-crash-"));
  const pkg = holdPackage(mkdtempSync(path.join(root, "pkg-")));
  const source = { id: "in", type: "postgres.read", config: { url: db.url, table: "jobs", key: "id", batchSize: 2, pollMs: 100 } };
  const pipeline = (nodes: unknown[], edges: unknown[]) => JSON.stringify({ apiVersion: "evoflow/v1", name: "crash", nodes: [source, ...nodes], edges });

  const first = path.join(root, "first.json");
  writeFileSync(first, pipeline([{ id: "hold", type: "hold.until" }], [{ from: "in.out", to: "hold.in", mode: "sync" }]));
  const run1 = await startRun([first, "--nodes", pkg], path.join(root, "data"));
  try {
    expect(await untilIn(run1, "crash", "hold", 6)).toBe(6);
  } finally {
    run1.kill();
  }

  const second = path.join(root, "second.json");
  const copy = { id: "copy", type: "postgres.insert", config: { url: db.url, table: "copied", columns: { id: { type: "integer" } }, conflict: { on: ["id"] } } };
  writeFileSync(second, pipeline([copy], [{ from: "in.out", to: "copy.in", mode: "sync" }]));
  const run2 = await startRun([second], path.join(root, "data"));
  try {
    const deadline = Date.now() + 10_000;
    let ids: number[] = [];
    while (ids.length < 6 && Date.now() < deadline) {
      ids = (await db.sql<{ id: number }>("select id from copied order by id")).map((r) => r.id);
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(ids).toEqual([5, 6, 7, 8, 9, 10]);
  } finally {
    run2.stop();
  }
}, 60_000);
