/**
 * At least once across a crash, with the real CLI: `evoflow run` holds a pipeline
 * nats.subscribe (an outside JetStream stream, the user's durable consumer, batch 2) → (sync
 * edge) → a node that never answers a `hold` message, on a real nats-server. While the hand-off
 * is stuck the source fetches nothing more (the stream keeps the rest); the process is killed
 * (SIGKILL); the next reader of that consumer gets the held message again and everything
 * published behind it. The control: a message the first edge took is acknowledged and never comes again.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { AckPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, expect, it } from "vitest";
import { loadNode } from "../../testing";
import { builtin } from "../nodes/builtin";
import { NatsServer } from "../nats/server";
import { startRun } from "../packages/cli";
import { holdPackage, holdPipeline, nodeIn } from "./hold-package";

let server: NatsServer;
let nc: NatsConnection;
beforeAll(async () => {
  server = await NatsServer.start();
  nc = await connect({ servers: server.url });
});
afterAll(async () => {
  await nc?.close();
  await server?.dispose();
});

it("messages not acknowledged when the process dies are delivered again; one handed off is not; a stuck hand-off fetches no more", async () => {
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: "JOBS", subjects: ["jobs.>"] });
  await jsm.consumers.add("JOBS", { durable_name: "worker", ack_policy: AckPolicy.Explicit, ack_wait: 2e9 });
  const js = jetstream(nc);
  const publish = (n: number, hold = false) => js.publish(`jobs.${n}`, JSON.stringify(hold ? { n, hold } : { n }));

  const root = mkdtempSync(path.join(tmpdir(), "evoflow-nats-crash-"));
  const pkg = holdPackage(mkdtempSync(path.join(root, "pkg-")));
  const config = { servers: [server.url], stream: "JOBS", consumer: "worker", batch: 2 };
  const file = holdPipeline(root, "nats.subscribe", config);
  const run = await startRun([file, "--nodes", pkg], path.join(root, "data"));
  try {
    await publish(1);
    await publish(2, true);
    for (let n = 3; n <= 22; n++) await publish(n);
    const deadline = Date.now() + 10_000;
    while ((await nodeIn(run, "crash", "hold")) < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(await nodeIn(run, "crash", "hold")).toBe(2);
    await new Promise((r) => setTimeout(r, 3000)); // longer than the ack wait: `working` keeps the held message
    const info = await jsm.consumers.info("JOBS", "worker");
    // n 1 acknowledged; n 2 held; at most one more fetched in its batch; the rest waits in the stream.
    expect(info.ack_floor.stream_seq).toBe(1);
    expect(info.num_ack_pending).toBeLessThanOrEqual(2);
    expect(info.num_pending).toBeGreaterThanOrEqual(19);
    expect(info.num_redelivered).toBe(0);
  } finally {
    run.kill();
  }

  const again = await loadNode(builtin("nats.subscribe"), { config, grants: ["network"] });
  try {
    const got: number[] = [];
    for (let i = 0; i < 21; i++) got.push(((await again.next("out", { timeout: 10_000 })).payload as { n: number }).n);
    expect(got.sort((a, b) => a - b)).toEqual(Array.from({ length: 21 }, (_, i) => i + 2));
    await new Promise((r) => setTimeout(r, 2500)); // another ack wait: nothing acknowledged comes back
    expect(again.status().received).toBe(21);
  } finally {
    await again.stop();
  }
}, 40_000);
