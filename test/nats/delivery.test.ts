/**
 * settings.delivery.maxDeliver on a real nats-server: a message whose node keeps failing,
 * or whose worker process keeps dying on it, is not delivered forever. It goes to the
 * dead-letter stream with the reason and the delivery count, and is terminated; the
 * pipeline keeps serving the other messages, and a failure that passes is retried, not lost.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { consumerName, streamName } from "../../runtime/transport/nats-names";
import { readDeadLetters } from "../../runtime/transport/nats-read";
import { NatsTransport } from "../../runtime/transport/nats";
import { Runtime } from "../../runtime/runtime";
import { until } from "./cli";
import { poisonNodeTypes } from "./poison-nodes";
import { NatsServer } from "./server";

const WORKER = resolve(import.meta.dirname, "crashing-worker.ts");

function sinkValues(file: string): number[] {
  if (!existsSync(file)) return [];
  const text = readFileSync(file, "utf8");
  return text.slice(0, text.lastIndexOf("\n") + 1).split("\n").filter(Boolean).map((l) => JSON.parse(l).payload.i as number);
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setUp(role: "coordinator") {
  const server = await NatsServer.start();
  cleanups.push(() => server.dispose());
  const dir = mkdtempSync(join(tmpdir(), "evoflow-delivery-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const transport = await NatsTransport.connect({ servers: server.url, role });
  const runtime = new Runtime({
    transport,
    nodeTypes: poisonNodeTypes,
    dataDir: dir,
    localNodes: (_name, def) => new Set(def.nodes.filter((n) => !n.placement).map((n) => n.id)),
  });
  cleanups.push(() => runtime.close());
  return { server, dir, transport, runtime };
}

async function edgesDrained(transport: NatsTransport, pipeline: string, edges: string[]): Promise<boolean> {
  for (const edge of edges) {
    const ci = await transport.jsm.consumers.info(streamName(pipeline), consumerName(edge));
    if (ci.num_pending + ci.num_ack_pending > 0) return false;
  }
  return true;
}

const expectedValues = (count: number, without: number) => Array.from({ length: count }, (_, i) => i).filter((i) => i !== without);

describe("max deliveries", () => {
  it("retries a failing node, dead-letters a message that fails on every delivery, and serves the others", async () => {
    const { dir, transport, runtime } = await setUp("coordinator");
    const running = await runtime.deploy({
      apiVersion: "evoflow/v1",
      name: "retries",
      settings: { delivery: { ackWaitSeconds: 2, maxDeliver: 3 } },
      nodes: [
        { id: "gen", type: "io.generator", config: { source: { kind: "synthetic", count: 20, features: 1, seed: 3 } } },
        { id: "check", type: "test.failing", config: { always: [3], once: [5] } },
        { id: "out", type: "io.sink", config: { kind: "jsonl", path: "out.jsonl" } },
      ],
      edges: [
        { from: "gen.out", to: "check.in", mode: "async" },
        { from: "check.out", to: "out.in", mode: "async" },
      ],
    });
    const sink = join(dir, "retries/out.jsonl");
    await until("19 messages at the sink and the edges drained", async () =>
      sinkValues(sink).length >= 19 && (await edgesDrained(transport, "retries", ["gen_out-check_in", "check_out-out_in"])) ? true : undefined,
    );

    // Message 5 failed once and came back; message 3 failed on each of its 3 deliveries.
    expect(sinkValues(sink).sort((a, b) => a - b)).toEqual(expectedValues(20, 3));
    expect(Object.fromEntries(running.nodeStats()).check.errors).toBe(3 + 1);
    const { total, letters } = await readDeadLetters(transport.js, "retries");
    expect(total).toBe(1);
    // The engine counts the letter, not the retries before it.
    expect(running.deadLetterCount()).toBe(1);
    expect(running.deadLetters.toArray()).toHaveLength(1);
    expect(letters[0]).toMatchObject({ node: "check", port: "in", edge: "gen_out-check_in", deliveries: 3, message: { payload: { i: 3 } } });
    expect(letters[0].reason).toContain("poison message 3");
    expect(letters[0].reason).toContain("3 deliveries");
  });

  it("dead-letters a message whose worker process dies on it, after maxDeliver deliveries", async () => {
    const { server, dir, transport, runtime } = await setUp("coordinator");
    await runtime.deploy({
      apiVersion: "evoflow/v1",
      name: "crashes",
      settings: { delivery: { ackWaitSeconds: 1, maxDeliver: 2 } },
      nodes: [
        { id: "gen", type: "io.generator", config: { rate: 20, source: { kind: "synthetic", count: 30, features: 1, seed: 4 } } },
        { id: "boom", type: "test.crashing", placement: "crashy", config: { on: 7 } },
        { id: "out", type: "io.sink", config: { kind: "jsonl", path: "out.jsonl" } },
      ],
      edges: [
        { from: "gen.out", to: "boom.in", mode: "async" },
        { from: "boom.out", to: "out.in", mode: "async" },
      ],
    });
    // A supervisor, as systemd or Kubernetes would be: a worker that dies is started again.
    let worker: ChildProcess | undefined;
    let crashes = 0;
    const startWorker = () => {
      const child = spawn(process.execPath, ["--import", "tsx", WORKER, server.url, join(dir, "worker")], { stdio: "ignore" });
      child.once("exit", (_code, signal) => {
        if (signal === "SIGKILL" && worker === child) {
          crashes++;
          startWorker();
        }
      });
      worker = child;
    };
    cleanups.push(() => {
      const last = worker;
      worker = undefined;
      last?.kill("SIGKILL");
    });
    startWorker();

    const sink = join(dir, "crashes/out.jsonl");
    await until(
      "29 messages at the sink and the edges drained",
      async () => (sinkValues(sink).length >= 29 && (await edgesDrained(transport, "crashes", ["gen_out-boom_in", "boom_out-out_in"])) ? true : undefined),
      50_000,
    );
    expect(sinkValues(sink).sort((a, b) => a - b)).toEqual(expectedValues(30, 7));
    // Delivered twice, killing its worker each time; the third delivery went to the dead-letter stream instead.
    expect(crashes).toBe(2);
    const { total, letters } = await readDeadLetters(transport.js, "crashes");
    expect(total).toBe(1);
    expect(letters[0]).toMatchObject({ node: "boom", edge: "gen_out-boom_in", deliveries: 2, message: { payload: { i: 7 } } });
    expect(letters[0].reason).toMatch(/stopped .* before acknowledging it, on each of 2 deliveries/);
  });
});
