/**
 * Upstream root-cause analysis on a real pipeline (Runtime, memory transport): the shift planted
 * in x[1] before transform A is ranked first, on the generator's edge; features that did not
 * shift are not flagged; the HTTP route answers behind the token, with 4xx for bad requests.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { FastifyInstance } from "fastify";
import { createApi } from "../../runtime/api/server";
import { Runtime } from "../../runtime/runtime";
import { rootCause } from "../../nodes/drift/rca";
import { alarmWindows } from "../../nodes/drift/rca-windows";
import type { AlarmSummary, RcaReport } from "../../sdk/api-types";
import { finished, plantedShiftPipeline, SHIFT_AT } from "./planted-shift";

let runtime: Runtime;
let app: FastifyInstance;
let alarm: AlarmSummary;
const TOKEN = "rca-test-token";

beforeAll(async () => {
  runtime = new Runtime({ dataDir: mkdtempSync(join(tmpdir(), "evoflow-rca-")) });
  app = await createApi({ runtime, auth: { tokens: { [TOKEN]: "viewer" } } });
  await finished(await runtime.deploy(plantedShiftPipeline));
  const res = await app.inject({ url: "/api/alarms", headers: { authorization: `Bearer ${TOKEN}` } });
  const { alarms } = res.json() as { alarms: AlarmSummary[] };
  expect(alarms).toHaveLength(1);
  alarm = alarms[0];
});
afterAll(async () => {
  await app.close();
  await runtime.close();
});

describe("root-cause analysis of a drift alarm", () => {
  it("keeps the alarm with the windows of every upstream edge, before and after the shift", () => {
    expect(alarm).toMatchObject({ pipeline: "planted-shift", node: "detector", detector: "ks", edges: ["B_out-detector_in", "A_out-B_in", "gen_out-A_in"] });
    const kept = runtime.alarm(alarm.id)!;
    // The reference (0–299), one calm window (300–599) and the drifted one (600–899) were all on every edge when it fired.
    for (const edge of kept.recorded) expect(edge.messages).toHaveLength(900);
  });

  it("ranks the planted feature on the generator's edge first, and flags no feature that did not shift", () => {
    const report = rootCause(runtime.alarm(alarm.id)!);
    expect(report.entry).toMatchObject({ edge: "gen_out-A_in", stage: 0, feature: "payload.x[1]", test: "ks", significant: true, before: 300, after: 300 });
    expect(report.ranking[0]).toEqual(report.entry);
    // The shift travels downstream as `b` and `b2`, and nothing else moved.
    const flagged = report.ranking.filter((t) => t.significant).map((t) => `${t.edge} ${t.feature}`);
    expect(flagged).toEqual(["gen_out-A_in payload.x[1]", "A_out-B_in payload.b", "B_out-detector_in payload.b", "B_out-detector_in payload.b2"]);
    for (const feature of ["payload.x[0]", "payload.x[2]", "payload.a", "payload.c", "payload.segment", "payload.sum"])
      for (const t of report.ranking.filter((r) => r.feature === feature)) expect(t.significant, `${t.edge} ${feature}`).toBe(false);
    // The category is tested as one (chi-square), and the message counter is left out, with why.
    expect(report.ranking.find((t) => t.feature === "payload.segment")?.test).toBe("chi-square");
    expect(report.skipped).toContainEqual({ edge: "gen_out-A_in", feature: "payload.i", reason: "grows with every message (a counter, an id or a time)" });
    expect(report.threshold).toBeCloseTo(0.05 / report.ranking.length, 12);
  });

  it("windows follow provenance: the after-window is the alarm's data, the before-window the messages just before", () => {
    const windows = alarmWindows(runtime.alarm(alarm.id)!);
    const indexes = (messages: { payload: unknown }[]) => messages.map((m) => (m.payload as { i?: number }).i);
    const gen = windows.find((w) => w.edge.id === "gen_out-A_in")!;
    // The detector's drifted window was made from the generator's messages 600–899; the 300 before them are the calm ones.
    expect(indexes(gen.after)).toEqual(Array.from({ length: 300 }, (_, k) => SHIFT_AT + k));
    expect(indexes(gen.before)).toEqual(Array.from({ length: 300 }, (_, k) => SHIFT_AT - 300 + k));
    // Downstream of A the index is gone: the same windows, found through parents.
    const b = windows.find((w) => w.edge.id === "A_out-B_in")!;
    expect(b.after.map((m) => m.parents[0])).toEqual(gen.after.map((m) => m.id));
    expect(b.before.map((m) => m.parents[0])).toEqual(gen.before.map((m) => m.id));
  });

  it("with MMD adds one joint test per edge, which also flags the generator's edge", () => {
    const report = rootCause(runtime.alarm(alarm.id)!, { mmd: true, correction: "fdr" });
    const joint = report.ranking.filter((t) => t.test === "mmd");
    expect(joint.map((t) => t.edge).sort()).toEqual(["A_out-B_in", "B_out-detector_in", "gen_out-A_in"]);
    expect(joint.find((t) => t.edge === "gen_out-A_in")?.significant).toBe(true);
    expect(report.entry?.stage).toBe(0);
  });

  it("a streaming detector's alarm (Page-Hinkley, a few values after the change) is analysed with what came after it", async () => {
    const pipeline = structuredClone(plantedShiftPipeline);
    pipeline.name = "planted-shift-ph";
    pipeline.nodes[3] = { id: "detector", type: "drift.page-hinkley", config: { value: "payload.b2", delta: 0.5 } };
    await finished(await runtime.deploy(pipeline));
    const [fired] = runtime.get("planted-shift-ph")!.alarms.list();
    const kept = runtime.alarm(fired.id)!;
    const index = (kept.event as { index: number }).index;
    expect(index).toBeGreaterThanOrEqual(SHIFT_AT);
    const report = rootCause(kept);
    expect(report.entry).toMatchObject({ edge: "gen_out-A_in", feature: "payload.x[1]", after: 900 - index - 1 });
    expect(report.ranking.filter((t) => t.significant).map((t) => t.feature)).toEqual(["payload.x[1]", "payload.b", "payload.b", "payload.b2"]);
  });

  it("serves the report behind the token, with a JSON 4xx for what it cannot answer", async () => {
    const auth = { authorization: `Bearer ${TOKEN}` };
    const ok = await app.inject({ url: `/api/alarms/${alarm.id}/rca?correction=fdr`, headers: auth });
    expect(ok.statusCode).toBe(200);
    const report = ok.json() as RcaReport;
    expect(report.correction).toBe("fdr");
    expect(report.entry).toMatchObject({ edge: "gen_out-A_in", feature: "payload.x[1]" });
    expect((await app.inject({ url: `/api/alarms/${alarm.id}/rca` })).statusCode).toBe(401);
    const badAlpha = await app.inject({ url: `/api/alarms/${alarm.id}/rca?alpha=2`, headers: auth });
    expect(badAlpha.statusCode).toBe(400);
    expect(badAlpha.json()).toMatchObject({ path: "$.query.alpha" });
    expect((await app.inject({ url: `/api/alarms/${alarm.id}/rca?correction=holm`, headers: auth })).statusCode).toBe(400);
    const missing = await app.inject({ url: "/api/alarms/nope/rca", headers: auth });
    expect(missing.statusCode).toBe(404);
    expect(missing.json().error).toMatch(/alarm nope not found/);
    expect((await app.inject({ url: "/api/alarms?pipeline=nope", headers: auth })).statusCode).toBe(404);
  });
});
