/**
 * PostgreSQL through Evoflow against the raw client, in one run: N rows of a table read in the
 * order of their id and inserted into another table.
 *   (a) raw pg: SELECT … WHERE id > last ORDER BY id LIMIT 100, then one multi-row INSERT of them
 *   (b) Evoflow: postgres.read (batchSize 100) → async edge (concurrency 200) → postgres.insert
 *       (batchSize 100), deployed on the embedded runtime. Concurrency twice the batch, so the next
 *       batch fills while one is inserted, as the README advises for throughput; with it equal to
 *       the batch, a batch that is not full when the last insert returns waits batchMs (5 ms).
 * Each side in a child process of its own (bench/connector-rounds.ts), rounds taking turns. Timed
 * by the database's clock: each written row gets clock_timestamp(), first to last, so starting a
 * process and deploying do not count. Target (issue 22): b/a ≥ 0.8.
 *
 *   node --import tsx bench/connectors-postgres.ts [--messages 20000] [--rounds 3]
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { PostgresServer } from "../test/connectors/postgres-server";
import { arg, reportSide, sideArgs, sideInChild, writeReport, type Side, type SideRun } from "./connector-rounds";

const COLUMNS = "id, sensor, value, x";

async function count(client: pg.Client, table: string): Promise<number> {
  return Number((await client.query(`select count(*) from ${table}`)).rows[0].count);
}

async function side(which: Side, url: string, out: string, n: number): Promise<never> {
  let cpu: NodeJS.CpuUsage;
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  if (which === "raw") {
    const writer = new pg.Client({ connectionString: url });
    await writer.connect();
    cpu = process.cpuUsage();
    let last = 0;
    for (let done = 0; done < n; ) {
      const { rows } = await client.query(`select ${COLUMNS} from bench_in where id > $1 order by id limit 100`, [last]);
      if (!rows.length) continue;
      const values = rows.flatMap((r) => [r.id, r.sensor, r.value, JSON.stringify(r.x)]);
      await writer.query(`insert into ${out} (${COLUMNS}) values ${rows.map((_, i) => `($${i * 4 + 1}, $${i * 4 + 2}, $${i * 4 + 3}, $${i * 4 + 4})`).join(", ")}`, values);
      last = rows[rows.length - 1].id;
      done += rows.length;
    }
    await writer.end();
  } else {
    const { Runtime } = await import("../runtime/runtime");
    const runtime = new Runtime({ dataDir: mkdtempSync(join(tmpdir(), "evoflow-bench-postgres-")), grants: ["network"] });
    await runtime.deploy({
      apiVersion: "evoflow/v1",
      name: "postgres-identity",
      nodes: [
        { id: "in", type: "postgres.read", config: { url, table: "bench_in", key: "id", batchSize: 100, pollMs: 50 } },
        { id: "out", type: "postgres.insert", config: { url, table: out, batchSize: 100, columns: { id: { type: "integer" }, sensor: { type: "text" }, value: { type: "number" }, x: { type: "json" } } } },
      ],
      edges: [{ from: "in.out", to: "out.in", mode: "async", queue: { concurrency: 200 } }],
    } as never);
    cpu = process.cpuUsage();
    while ((await count(client, out)) < n) await new Promise((r) => setTimeout(r, 20));
    await runtime.close();
  }
  await client.end();
  return reportSide(cpu);
}

async function main(): Promise<void> {
  const n = arg("messages", 20_000);
  const rounds = arg("rounds", 3);
  const db = await PostgresServer.start();
  const load = (await import("node:os")).loadavg();
  const x = JSON.stringify(Array.from({ length: 16 }, (_, i) => i / 16));
  await db.sql("create table bench_in (id integer primary key, sensor text, value double precision, x jsonb)");
  await db.sql(`insert into bench_in select i, 's' || (i % 10), i * 0.5, $1::jsonb from generate_series(1, ${n}) i`, [x]);
  const runs: SideRun[] = [];
  try {
    for (let round = 0; round < rounds; round++)
      for (const which of ["raw", "evoflow"] as const) {
        const out = `out_${which}_${round}`;
        await db.sql(`create table ${out} (id integer, sensor text, value double precision, x jsonb, written timestamptz default clock_timestamp())`);
        const { result } = sideInChild(import.meta.filename, which, [db.url, out, String(n)]);
        const { peakRssMB, cpuSeconds } = await result;
        const [{ seconds }] = await db.sql<{ seconds: number }>(`select extract(epoch from max(written) - min(written))::float8 as seconds from ${out}`);
        runs.push({ side: which, messages: n, seconds, msgsPerSecond: (n - 1) / seconds, peakRssMB, cpuMicrosPerMessage: (cpuSeconds * 1e6) / n });
      }
  } finally {
    await db.close();
  }
  const version = execFileSync("/usr/lib/postgresql/15/bin/postgres", ["--version"]).toString().trim();
  writeReport({
    name: "connectors-postgres",
    title: "PostgreSQL connector: identity pipeline vs the raw client",
    command: `node --import tsx bench/connectors-postgres.ts --messages ${n} --rounds ${rounds}`,
    server: `${version} (fsync off, as the tests run it)`,
    workload: `Rows: ${n} of (id integer, sensor text, value double precision, x jsonb of 16 numbers), read in id order, 100 a query, each inserted into a fresh table per side and round; ${rounds} rounds, raw and Evoflow taking turns, each side in a fresh child process. Timed by the written rows' clock_timestamp(), first to last; msgs/s = (rows − 1) / that time.`,
    labels: { raw: "(a) raw pg SELECT 100 → multi-row INSERT", evoflow: "(b) Evoflow postgres.read → async edge (concurrency 200) → postgres.insert" },
    load,
    runs,
  });
}

const child = sideArgs();
if (child) {
  const [which, url, out, n] = child;
  await side(which, url, out, Number(n));
} else await main();
