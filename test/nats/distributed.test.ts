/**
 * The same pipeline JSON run distributed: a coordinator (`evoflow run --nats`) and
 * worker processes (`evoflow worker`) on a real nats-server, against the in-process run.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { Runtime } from "../../runtime/runtime";
import { consumerName, streamName } from "../../runtime/transport/nats-names";
import { evoflow, evoflowOnce, until, type CliProcess } from "./cli";
import { freePort, NatsServer } from "./server";

interface SinkLine {
  id: string;
  parents: string[];
  source: { node: string };
  payload: { i: number } & Record<string, unknown>;
}

function readSink(file: string): SinkLine[] {
  if (!existsSync(file)) return [];
  const text = readFileSync(file, "utf8");
  // The last line may be mid-write: keep complete lines only.
  return text.slice(0, text.lastIndexOf("\n") + 1).split("\n").filter(Boolean).map((l) => JSON.parse(l) as SinkLine);
}

const splitPipeline = {
  apiVersion: "evoflow/v1",
  name: "split",
  nodes: [
    { id: "gen", type: "io.generator", config: { source: { kind: "synthetic", count: 2000, features: 4, seed: 7 } } },
    { id: "tag", type: "transform.set", placement: "a", config: { set: { stage: "tagged" } } },
    { id: "stats", type: "transform.jsonata", placement: "b", config: { expression: "{ 'i': i, 'sum': $sum(x), 'max': $max(x), 'stage': stage }" } },
    { id: "out", type: "io.sink", config: { kind: "jsonl", path: "out.jsonl" } },
  ],
  edges: [
    { from: "gen.out", to: "tag.in", mode: "async" },
    { from: "tag.out", to: "stats.in", mode: "sync" },
    { from: "stats.out", to: "out.in", mode: "async" },
  ],
};

/** A sync request path over two remote nodes; `check` takes records only. */
const calcPipeline = {
  apiVersion: "evoflow/v1",
  name: "calc",
  nodes: [
    { id: "request", type: "io.http" },
    { id: "check", type: "transform.set", placement: "a", config: { set: { checked: true } } },
    { id: "double", type: "transform.jsonata", placement: "b", config: { expression: "{ 'y': x * 2, 'checked': checked }" } },
  ],
  edges: [
    { from: "request.out", to: "check.in", mode: "sync" },
    { from: "check.out", to: "double.in", mode: "sync" },
  ],
};

describe("coordinator and two workers", () => {
  let server: NatsServer;
  let dir: string;
  let apiPort: number;
  const processes: CliProcess[] = [];

  beforeAll(async () => {
    server = await NatsServer.start();
    dir = mkdtempSync(join(tmpdir(), "evoflow-dist-"));
    writeFileSync(join(dir, "split.json"), JSON.stringify(splitPipeline));
    writeFileSync(join(dir, "calc.json"), JSON.stringify(calcPipeline));
    apiPort = await freePort();
    const coordinator = evoflow(["run", join(dir, "split.json"), join(dir, "calc.json"), "--nats", server.url, "--port", String(apiPort), "--data", join(dir, "coord"), "--no-auth"]);
    processes.push(coordinator);
    await coordinator.waitFor(/listening on/);
    // Two workers by placement group, and a second replica of `tag` named on the command line.
    for (const [name, selection] of [["a", ["--placement", "a"]], ["b", ["--placement", "b"]], ["tag2", ["--nodes", "tag"]]]) {
      const worker = evoflow(["worker", "--nats", server.url, ...selection, "--data", join(dir, `worker-${name}`)]);
      processes.push(worker);
      await worker.waitFor(/running split/);
    }
  });

  afterAll(async () => {
    await Promise.all(processes.map((p) => p.kill("SIGKILL")));
    await server?.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  it("gives the same outputs as the in-process run", async () => {
    const distributed = await until("2000 messages at the distributed sink", () => {
      const lines = readSink(join(dir, "coord/split/out.jsonl"));
      return lines.length >= 2000 ? lines : undefined;
    });

    const runtime = new Runtime({ dataDir: join(dir, "memory") });
    const local = await runtime.deploy(splitPipeline);
    await until("the in-process generator to finish", () => (local.status().nodes.gen as { done: boolean }).done || undefined);
    await local.idle();
    await runtime.close();
    const inProcess = readSink(join(dir, "memory/split/out.jsonl"));

    const payloads = (lines: SinkLine[]) => lines.map((l) => l.payload).sort((a, b) => a.i - b.i);
    expect(inProcess).toHaveLength(2000);
    expect(distributed).toHaveLength(2000);
    expect(payloads(distributed)).toEqual(payloads(inProcess));
    expect(distributed.every((l) => l.source.node === "stats" && l.parents.length === 1)).toBe(true);
  });

  it("reports where each node runs, its replicas and the lag of each async edge", async () => {
    const status = (await (await fetch(`http://127.0.0.1:${apiPort}/api/pipelines/split/status`)).json()) as {
      transport: string;
      processes: { id: string; role: string; placement?: string; nodes: string[] }[];
      placement: Record<string, { replicas: number; processes: string[] }>;
      lag: Record<string, { pending: number; ackPending: number }>;
    };
    expect(status.transport).toBe("nats");
    expect(status.processes).toHaveLength(4);
    const byId = new Map(status.processes.map((p) => [p.id, p]));
    const roles = (node: string) => status.placement[node].processes.map((id) => byId.get(id)!.role).sort();
    expect(status.placement.tag.replicas).toBe(2);
    expect(roles("tag")).toEqual(["worker", "worker"]);
    expect(status.placement.stats.processes.map((id) => byId.get(id)!.placement)).toEqual(["b"]);
    expect(roles("gen")).toEqual(["coordinator"]);
    expect(roles("out")).toEqual(["coordinator"]);
    expect(Object.keys(status.lag).sort()).toEqual(["gen_out-tag_in", "stats_out-out_in"]);
    await until("the lag to reach zero", async () => {
      const s = (await (await fetch(`http://127.0.0.1:${apiPort}/api/pipelines/split/status`)).json()) as typeof status;
      return Object.values(s.lag).every((l) => l.pending === 0 && l.ackPending === 0) || undefined;
    });
  });

  it("reads any edge back from the stream and traces across processes", async () => {
    const tap = async (...args: string[]) => {
      const r = await evoflowOnce(["tap", "split", ...args, "--nats", server.url]);
      expect(r.stderr).toBe("");
      return r.stdout.trim().split("\n").map((l) => JSON.parse(l) as { seq: number; message: SinkLine });
    };
    const last = await tap("gen_out-tag_in", "--last", "3");
    expect(last.map((l) => l.message.payload.i)).toEqual([1997, 1998, 1999]);
    const fromSeq = await tap("gen_out-tag_in", "--seq", String(last[1].seq));
    expect(fromSeq.map((l) => l.message.payload.i)).toEqual([1998, 1999]);
    expect(await tap("gen_out-tag_in", "--since", "10m")).toHaveLength(2000);
    // A sync edge is read from its captured traffic (settings.capture defaults to full): requests and their replies.
    const sync = await tap("tag_out-stats_in", "--last", "10");
    expect(sync).toHaveLength(10);
    expect(new Set(sync.map((l) => l.message.source.node))).toEqual(new Set(["tag", "stats"]));

    const output = readSink(join(dir, "coord/split/out.jsonl")).find((l) => l.payload.i === 42)!;
    const trace = await evoflowOnce(["trace", (output as unknown as { traceId: string }).traceId, "--nats", server.url, "--json"]);
    expect(trace.stderr).toBe("");
    const parsed = JSON.parse(trace.stdout) as { pipeline: string; messages: SinkLine[]; outputs: { node: string; parents: { node: string; parents: { node: string }[] }[] }[] };
    expect(parsed.pipeline).toBe("split");
    expect(parsed.messages.map((m) => m.source.node).sort()).toEqual(["gen", "stats", "tag"]);
    // The output of `stats` (worker b) ← `tag` (worker a or tag2) ← `gen` (coordinator).
    expect(parsed.outputs[0]).toMatchObject({ node: "stats", parents: [{ node: "tag", parents: [{ node: "gen" }] }] });
    // The coordinator's API answers the same, though two of the three messages were made in workers.
    const api = (await (await fetch(`http://127.0.0.1:${apiPort}/api/traces/${(output as unknown as { traceId: string }).traceId}`)).json()) as typeof parsed;
    expect(api.messages.map((m) => m.source.node).sort()).toEqual(["gen", "stats", "tag"]);
    expect(api.outputs).toEqual(parsed.outputs);
  });

  it("brings a remote node's error back to the HTTP caller, and its answers", async () => {
    const call = (body: unknown) =>
      fetch(`http://127.0.0.1:${apiPort}/pipelines/calc`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    const ok = await call({ x: 21 });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ y: 42, checked: true });
    const failed = await call([1, 2]);
    expect(failed.status).toBe(422);
    expect(await failed.json()).toMatchObject({ node: "check", error: expect.stringContaining("expected a record") });
  });

  it("has workers follow a redeploy of the pipeline", async () => {
    const changed = structuredClone(calcPipeline);
    changed.nodes[2].config = { expression: "{ 'y': x * 3, 'checked': checked }" };
    const deployed = await fetch(`http://127.0.0.1:${apiPort}/api/pipelines`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(changed) });
    expect(deployed.status).toBe(201);
    const answer = await until("worker b to run the new version", async () => {
      const res = await fetch(`http://127.0.0.1:${apiPort}/pipelines/calc`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ x: 21 }) });
      const body = (await res.json()) as { y?: number };
      return body.y === 63 ? body : undefined;
    });
    expect(answer).toEqual({ y: 63, checked: true });
  });
});

const killPipeline = {
  apiVersion: "evoflow/v1",
  name: "kill",
  settings: { delivery: { ackWaitSeconds: 2 } },
  nodes: [
    { id: "gen", type: "io.generator", config: { source: { kind: "synthetic", count: 10_000, features: 2, seed: 3 } } },
    // Slower than the generator on purpose (~0.5 ms of work a message): the worker is always behind, so at the kill it holds
    // messages it has fetched and not acknowledged, which is what the replacement must get again.
    { id: "tag", type: "transform.jsonata", placement: "w", config: { expression: '$merge([$, {"seen": true, "work": $sum([1..2000])}])' } },
    { id: "out", type: "io.sink", config: { kind: "jsonl", path: "out.jsonl" } },
  ],
  edges: [
    { from: "gen.out", to: "tag.in", mode: "async" },
    { from: "tag.out", to: "out.in", mode: "async" },
  ],
};

describe("a worker killed with SIGKILL mid-stream", () => {
  let server: NatsServer;
  let dir: string;
  let nc: NatsConnection;
  const processes: CliProcess[] = [];

  beforeAll(async () => {
    server = await NatsServer.start();
    nc = await connect({ servers: server.url });
    dir = mkdtempSync(join(tmpdir(), "evoflow-kill-"));
  });

  afterAll(async () => {
    await Promise.all(processes.map((p) => p.kill("SIGKILL")));
    await nc?.close();
    await server?.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  it("loses nothing and delivers nothing twice once a replacement runs", async () => {
    writeFileSync(join(dir, "kill.json"), JSON.stringify(killPipeline));
    const sink = join(dir, "coord/kill/out.jsonl");
    const coordinator = evoflow(["run", join(dir, "kill.json"), "--nats", server.url, "--port", String(await freePort()), "--data", join(dir, "coord"), "--no-auth"]);
    processes.push(coordinator);
    await coordinator.waitFor(/listening on/);

    const first = evoflow(["worker", "--nats", server.url, "--placement", "w", "--data", join(dir, "w1")]);
    processes.push(first);
    await until("the sink to be part-way", () => readSink(sink).length >= 1500 || undefined);
    await first.kill("SIGKILL");
    const atKill = readSink(sink).length;
    expect(atKill).toBeLessThan(10_000);
    // The dead worker held messages it had not acknowledged: the replacement gets them again.
    const jsm = await jetstreamManager(nc);
    const held = await jsm.consumers.info(streamName("kill"), consumerName("gen_out-tag_in"));
    expect(held.num_ack_pending).toBeGreaterThan(0);

    const replacement = evoflow(["worker", "--nats", server.url, "--placement", "w", "--data", join(dir, "w2")]);
    processes.push(replacement);
    await replacement.waitFor(/running kill/);

    await until(
      "every message at the sink and both edges drained",
      async () => {
        if (readSink(sink).length < 10_000) return undefined;
        for (const edge of ["gen_out-tag_in", "tag_out-out_in"]) {
          const ci = await jsm.consumers.info(streamName("kill"), consumerName(edge));
          if (ci.num_pending + ci.num_ack_pending > 0) return undefined;
        }
        return true;
      },
      90_000,
    );
    const lines = readSink(sink);
    const indexes = new Set(lines.map((l) => l.payload.i));
    expect(lines).toHaveLength(10_000);
    expect(new Set(lines.map((l) => l.id)).size).toBe(10_000);
    expect(indexes.size).toBe(10_000);
    expect(Math.min(...indexes)).toBe(0);
    expect(Math.max(...indexes)).toBe(9_999);
    // Re-emits by the replacement were dropped by JetStream's duplicate window: the edge holds each message once.
    const stored = await jsm.streams.info(streamName("kill"), { subjects_filter: "evoflow.kill.edge.tag_out-out_in.*" });
    expect(Object.values(stored.state.subjects ?? {}).reduce((a, b) => a + b, 0)).toBe(10_000);
  });
});
