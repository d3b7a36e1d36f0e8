/**
 * Explanations on demand in a distributed run: a coordinator (`evoflow run --nats`) and a worker
 * running the model node on a real nats-server. The explanation asked for over the API is
 * written to the pipeline's JetStream stream: another process reads it back with `evoflow tap
 * --nats` (from a sequence, so it replays), and the trace read from the stream holds it as a
 * child of the input it explains.
 */
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FsModelRegistry } from "../../runtime/registry/fs";
import type { Explanation, Trace } from "../../sdk";
import { tempDir } from "../agent/helpers";
import { evoflow, evoflowOnce, type CliProcess } from "../nats/cli";
import { freePort, NatsServer } from "../nats/server";
import { linearModel, linearShap, scoringPipeline } from "./fixtures";

describe("explain on NATS", () => {
  const model = linearModel(3, 2, 41);
  const inputs = [[1, 2, 3], [0.5, -1, 2], [-2, 0, 1], [3, 3, -1]];
  let server: NatsServer;
  let dir: string;
  let api: string;
  const processes: CliProcess[] = [];
  const traceIds: string[] = [];

  beforeAll(async () => {
    server = await NatsServer.start();
    dir = tempDir("explain-nats");
    const registry = new FsModelRegistry(join(dir, "registry"));
    await registry.register({ name: "clf", artifact: model.bytes });
    await registry.promote("clf", 1);
    await registry.close();
    // The model node runs in the worker only: the coordinator reaches it over a sync NATS edge.
    const pipeline = scoringPipeline("clf");
    Object.assign(pipeline.nodes[1], { placement: "models" });
    writeFileSync(join(dir, "scorer.json"), JSON.stringify(pipeline));
    const env = { EVOFLOW_REGISTRY: join(dir, "registry") };
    const port = await freePort();
    const coordinator = evoflow(["run", join(dir, "scorer.json"), "--nats", server.url, "--port", String(port), "--data", join(dir, "coord"), "--no-auth"], env);
    processes.push(coordinator);
    await coordinator.waitFor(/listening on/);
    const worker = evoflow(["worker", "--nats", server.url, "--placement", "models", "--data", join(dir, "worker")], env);
    processes.push(worker);
    await worker.waitFor(/running scorer/);
    api = `http://127.0.0.1:${port}`;
    for (const data of inputs) {
      const res = await fetch(`${api}/pipelines/scorer`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ dtype: "float32", shape: [1, 3], data }) });
      expect(res.status).toBe(200);
      traceIds.push(res.headers.get("x-trace-id")!);
    }
  }, 90_000);
  afterAll(async () => {
    await Promise.all(processes.map((p) => p.kill("SIGKILL")));
    await server?.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  it("writes the explanation to the pipeline's stream: tapped and replayed by another process, in the trace beside the request", async () => {
    const background = inputs.slice(0, 3);
    const res = await fetch(`${api}/api/traces/${traceIds[3]}/explain`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ method: "kernel-shap", target: 1, background }) });
    expect(res.status).toBe(200);
    const answer = (await res.json()) as { pipeline: string; messageId: string; explanation: Explanation };
    const expected = linearShap(model, 1, inputs[3], background);
    (answer.explanation.attributions.data as number[]).forEach((v, i) => expect(v).toBeCloseTo(expected[i], 3));
    expect(answer.messageId).toMatch(/^[0-9a-f]+$/);

    // The trace as the stream holds it (every process's messages): the explanation is a child of the request's tensor.
    const trace = (await (await fetch(`${api}/api/traces/${traceIds[3]}`)).json()) as Trace;
    const kept = trace.messages.find((m) => m.id === answer.messageId)!;
    const request = trace.messages.find((m) => m.source.node === "request")!;
    expect(kept).toMatchObject({ traceId: traceIds[3], parents: [request.id], source: { node: "explain", port: "kernel-shap", model: { name: "clf", version: 1 } } });
    expect((kept.payload as Explanation).explains).toBe(trace.messages.find((m) => m.source.node === "model")!.id);

    // Another process reads the stream: the tap, then a replay from the explanation's sequence.
    const tap = await evoflowOnce(["tap", "scorer", "_explanations", "--nats", server.url]);
    expect(tap.stderr).toBe("");
    const lines = tap.stdout.trim().split("\n").map((l) => JSON.parse(l) as { seq: number; message: { id: string; traceId: string; payload: Explanation } });
    expect(lines.map((l) => l.message.id)).toEqual([answer.messageId]);
    expect(lines[0].message.payload.attributions.data).toEqual(answer.explanation.attributions.data);
    const replay = await evoflowOnce(["tap", "scorer", "_explanations", "--nats", server.url, "--seq", String(lines[0].seq)]);
    expect(replay.stdout.trim().split("\n").map((l) => JSON.parse(l).message.traceId)).toEqual([traceIds[3]]);
    const traced = await evoflowOnce(["trace", traceIds[3], "--nats", server.url]);
    expect(traced.stdout).toMatch(/^ {2}explain\.kernel-shap .* model clf@1/m);
  }, 60_000);
});
