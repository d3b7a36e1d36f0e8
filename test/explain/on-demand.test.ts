/**
 * POST /api/traces/:traceId/explain on a real API over a real runtime: the traced request's
 * model call is explained with the version that served it, against the model's recent inputs
 * as background, and the explanation is kept in the trace and on the pipeline's `_explanations`
 * stream (its tap). Behind the API's token and roles.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { FastifyInstance } from "fastify";
import { createApi } from "../../runtime/api/server";
import type { Explanation, Tensor, Trace } from "../../sdk";
import { randomFloats } from "../fixtures/mlp";
import { linearModel, linearShap, modelRuntime, scoringPipeline } from "./fixtures";

describe("explaining a traced request on demand", () => {
  const model = linearModel(6, 3, 23);
  let app: FastifyInstance;
  let close: () => Promise<void>;
  const inputs = Array.from({ length: 8 }, (_, i) => Array.from(randomFloats(6, 500 + i, 2)));
  const traceIds: string[] = [];

  const call = (method: string, url: string, body?: unknown, token = "op-token") =>
    app.inject({ method: method as "POST", url, headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) }, payload: body === undefined ? undefined : JSON.stringify(body) });

  beforeAll(async () => {
    const setup = await modelRuntime();
    await setup.registry.register({ name: "clf", artifact: model.bytes });
    await setup.registry.promote("clf", 1);
    await setup.runtime.deploy(scoringPipeline("clf"));
    app = await createApi({ runtime: setup.runtime, auth: { tokens: { "op-token": "operator", "view-token": "viewer" } } });
    close = async () => {
      await app.close();
      await setup.close();
    };
    // As io.http hands them on: data a JSON array.
    for (const data of inputs) {
      const res = await call("POST", "/pipelines/scorer", { dtype: "float32", shape: [1, 6], data });
      expect(res.statusCode).toBe(200);
      traceIds.push(res.headers["x-trace-id"] as string);
    }
  });
  afterAll(() => close());

  it("gives the exact Shapley values against the model's other recent inputs, and keeps them in the trace", async () => {
    const res = await call("POST", `/api/traces/${traceIds[7]}/explain`, { method: "kernel-shap", target: 1 });
    expect(res.statusCode).toBe(200);
    const answer = res.json() as { pipeline: string; messageId: string; explanation: Explanation };
    expect(answer).toMatchObject({ pipeline: "scorer", explanation: { method: "kernel-shap", model: { name: "clf", version: 1 }, target: 1, exact: true, background: 7 } });
    const expected = linearShap(model, 1, Float32Array.from(inputs[7]), inputs.slice(0, 7).map((r) => Float32Array.from(r)));
    (answer.explanation.attributions.data as number[]).forEach((v, i) => expect(v).toBeCloseTo(expected[i], 4));

    const trace = (await call("GET", `/api/traces/${traceIds[7]}`)).json() as Trace;
    const kept = trace.messages.find((m) => m.id === answer.messageId)!;
    expect(kept.source).toMatchObject({ pipeline: "scorer", node: "explain", port: "kernel-shap", model: { name: "clf", version: 1 } });
    const request = trace.messages.find((m) => m.source.node === "request")!;
    const served = trace.messages.find((m) => m.source.node === "model")!;
    expect(kept.parents).toEqual([request.id]);
    expect((kept.payload as Explanation).explains).toBe(served.id);
    // The prediction stays an output of the trace beside its explanation.
    expect(trace.outputs.map((o) => o.node).sort()).toEqual(["explain", "model"]);
    // Written to the pipeline's explanations stream as outputs are to edges: a tap reads it back.
    const tapped = (await call("GET", "/api/pipelines/scorer/edges/_explanations/messages")).json() as { total: number; messages: { id: string; traceId: string; parents: string[] }[] };
    expect(tapped.total).toBe(1);
    expect(tapped.messages[0]).toMatchObject({ id: answer.messageId, traceId: traceIds[7], parents: [request.id] });
  });

  it("takes background rows in the body, and explains with occlusion", async () => {
    const background = [[0, 0, 0, 0, 0, 0]];
    const res = await call("POST", `/api/traces/${traceIds[0]}/explain`, { method: "kernel-shap", background, target: 0 });
    const e = (res.json() as { explanation: Explanation }).explanation;
    const expected = linearShap(model, 0, Float32Array.from(inputs[0]), background);
    (e.attributions.data as number[]).forEach((v, i) => expect(v).toBeCloseTo(expected[i], 4));

    const occluded = await call("POST", `/api/traces/${traceIds[0]}/explain`, { method: "occlusion", height: 2, width: 3, patch: 1, stride: 1, target: 0 });
    expect(occluded.statusCode).toBe(200);
    const o = (occluded.json() as { explanation: Explanation }).explanation;
    // A 1-pixel patch filled with 0 drops a linear score by exactly wᵢ·xᵢ.
    expect(o.attributions.shape).toEqual([2, 3]);
    (o.attributions.data as number[]).forEach((v, i) => expect(v).toBeCloseTo(model.weights[i * 3] * inputs[0][i], 4));
  });

  it("streams its progress in model rows to a client that accepts NDJSON, then the same answer as JSON gets", async () => {
    const options = { method: "kernel-shap", target: 1, exactMaxFeatures: 2, samples: 4096, seed: 5 };
    const streamed = await app.inject({ method: "POST", url: `/api/traces/${traceIds[3]}/explain`, headers: { authorization: "Bearer op-token", "content-type": "application/json", accept: "application/x-ndjson" }, payload: JSON.stringify(options) });
    expect(streamed.statusCode).toBe(200);
    expect(streamed.headers["content-type"]).toContain("application/x-ndjson");
    const lines = streamed.body.trimEnd().split("\n").map((l) => JSON.parse(l));
    const progress = lines.slice(0, -1).map((l) => l.progress as { done: number; total: number });
    // 4,096 coalitions (with the empty and full ones) × 7 background rows, scored 4,096 rows a call at most.
    expect(progress.length).toBeGreaterThan(5);
    expect(new Set(progress.map((p) => p.total)).size).toBe(1);
    expect(progress.every((p, i) => i === 0 || p.done > progress[i - 1].done)).toBe(true);
    expect(progress.at(-1)!.done).toBe(progress[0].total);
    const answer = lines.at(-1);
    expect(answer.explanation.coalitions * answer.explanation.background).toBe(progress[0].total);
    const plain = (await call("POST", `/api/traces/${traceIds[3]}/explain`, options)).json();
    expect(answer.explanation.attributions.data).toEqual(plain.explanation.attributions.data);
    // Refused before any model row: still a 4xx JSON body.
    const unknown = await app.inject({ method: "POST", url: "/api/traces/0123456789abcdef0123456789abcdef/explain", headers: { authorization: "Bearer op-token", "content-type": "application/json", accept: "application/x-ndjson" }, payload: '{"method":"occlusion"}' });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json().error).toBe("trace 0123456789abcdef0123456789abcdef not found");
  });

  it("answers bad requests with 4xx JSON: the JSON path of a bad option, an unknown trace, a target out of range", async () => {
    const bad = await call("POST", `/api/traces/${traceIds[0]}/explain`, { method: "kernel-shap", samples: 3 });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().problems[0].path).toBe("$.samples");
    const method = await call("POST", `/api/traces/${traceIds[0]}/explain`, { method: "lime" });
    expect(method.statusCode).toBe(400);
    expect(method.json().problems[0].path).toBe("$.method");
    const unknown = await call("POST", "/api/traces/0123456789abcdef0123456789abcdef/explain", { method: "occlusion" });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json().error).toBe("trace 0123456789abcdef0123456789abcdef not found");
    const target = await call("POST", `/api/traces/${traceIds[0]}/explain`, { method: "kernel-shap", target: 9 });
    expect(target.statusCode).toBe(422);
    expect(target.json().error).toContain('target 9 is out of range: output "output" has 3 values a row');
    const row = await call("POST", `/api/traces/${traceIds[0]}/explain`, { method: "kernel-shap", background: [[1, 2]] });
    expect(row.statusCode).toBe(400);
    expect(row.json().error).toBe("background[0] has 2 features, the input 6");
  });

  it("needs a token, and the operator role", async () => {
    const none = await app.inject({ method: "POST", url: `/api/traces/${traceIds[0]}/explain`, headers: { "content-type": "application/json" }, payload: '{"method":"occlusion"}' });
    expect(none.statusCode).toBe(401);
    const viewer = await call("POST", `/api/traces/${traceIds[0]}/explain`, { method: "kernel-shap" }, "view-token");
    expect(viewer.statusCode).toBe(403);
    const cross = await app.inject({ method: "POST", url: `/api/traces/${traceIds[0]}/explain`, headers: { authorization: "Bearer op-token", "content-type": "application/json", origin: "http://evil.example" }, payload: '{"method":"occlusion"}' });
    expect(cross.statusCode).toBe(403);
  });
});
