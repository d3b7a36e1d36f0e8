/**
 * Active learning end to end on a real runtime and HTTP API: sampler.uncertainty picks the most
 * uncertain requests of each window within its budget, the label queue leases each item to one
 * labeler, skipped items return, labels reach the collector's join, and the queue (and the
 * budget it counts) and the collector's waiting requests survive a runtime restart.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { FastifyInstance } from "fastify";
import { createApi, routeHost } from "../../runtime/api/server";
import { Runtime } from "../../runtime/runtime";
import labelQueueRoutes from "../../nodes/sampler/label-api";
import { LabelQueue, LabelQueues } from "../../nodes/sampler/label-queue";
import { toProbabilities, uncertainty, WindowPicker } from "../../nodes/sampler/uncertainty";
import { probe, testNodeTypes } from "../runtime/helpers";

const VIEWER = "viewer-token";
const OPERATOR = "operator-token";

function pipeline(config: Record<string, unknown> = {}) {
  return {
    apiVersion: "evoflow/v1",
    name: "al",
    nodes: [
      { id: "serve", type: "io.http", config: { name: "serve" } },
      { id: "sampler", type: "sampler.uncertainty", config: { queue: "fm", classes: ["a", "b", "c"], requestId: "payload.requestId", window: { size: 4, perWindow: 2 }, budget: { perDay: 3 }, ...config } },
      { id: "collector", type: "sampler.collector", config: { requestId: "payload.requestId", x: "payload.input" } },
      { id: "joined", type: "test.recorder", config: { key: "joined" } },
    ],
    edges: [
      { from: "serve.out", to: "sampler.in" },
      { from: "serve.out", to: "collector.in" },
      { from: "sampler.labels", to: "collector.label", mode: "async" },
      { from: "collector.out", to: "joined.in", mode: "async" },
    ],
  };
}

/** Scores whose top class has probability `top` (the rest spread evenly): lower top = more uncertain. */
const request = (i: number, top: number) => ({ requestId: `r${i}`, input: [i, 1, 2, 3], scores: [top, (1 - top) / 2, (1 - top) / 2] });

describe("uncertainty scores and window picks", () => {
  it("scores least confidence, margin and entropy, and softmaxes logits", () => {
    const p = [0.5, 0.3, 0.2];
    expect(uncertainty(p, "least-confidence")).toBeCloseTo(0.5);
    expect(uncertainty(p, "margin")).toBeCloseTo(0.8);
    expect(uncertainty([1 / 3, 1 / 3, 1 / 3], "entropy")).toBeCloseTo(1);
    expect(uncertainty([1, 0, 0], "entropy")).toBe(0);
    expect(Array.from(toProbabilities([2, 0, 0]))).toEqual([expect.closeTo(0.787, 3), expect.closeTo(0.1065, 3), expect.closeTo(0.1065, 3)]);
    expect(() => toProbabilities([0.9, 0.9], "probabilities")).toThrow(/sum to 1.8/);
  });

  it("sends at most perWindow of a window, the most uncertain first, and skips near-duplicates", () => {
    const picker = new WindowPicker<string>({ windowSize: 5, perWindow: 2, minDistance: 0.01 });
    const offers = [
      { score: 0.9, features: [1, 0], item: "a" },
      { score: 0.95, features: [1, 0.001], item: "a-again" }, // a near-duplicate of a: one of them only
      { score: 0.2, features: [0, 1], item: "b" },
      { score: 0.8, features: [1, 1], item: "c" },
    ];
    for (const o of offers) expect(picker.offer(o, 10)).toBeUndefined();
    const picks = picker.offer({ score: 0.1, features: [3, 1], item: "d" }, 10)!;
    expect(picks.map((p) => p.item)).toEqual(["a-again", "c"]);
    expect(picker.duplicates).toBe(1);
    // The budget bounds it too.
    for (let i = 0; i < 4; i++) picker.offer({ score: 0.5, features: [i, 7], item: `x${i}` }, 1);
    expect(picker.offer({ score: 0.5, features: [9, 7], item: "x4" }, 1)).toHaveLength(1);
  });
});

describe("label queue on a runtime", () => {
  let dataDir: string;
  let runtime: Runtime | undefined;
  let queues: LabelQueues | undefined;
  let app: FastifyInstance | undefined;
  afterEach(async () => {
    await app?.close();
    await runtime?.close();
    await queues?.close();
    app = runtime = queues = undefined;
  });

  async function start() {
    queues = new LabelQueues(join(dataDir, "label-queues"));
    runtime = new Runtime({ nodeTypes: testNodeTypes, dataDir, services: { "sampler.label-queues": queues } });
    // The package's routes as the runtime registers them (a runtime with the test nodes has no packages to find them in).
    const routes = (a: FastifyInstance, rt: Runtime) => labelQueueRoutes(a, routeHost(rt));
    app = await createApi({ runtime, auth: { tokens: { [VIEWER]: "viewer", [OPERATOR]: "operator" } }, routes: [routes] });
    return app;
  }
  const post = (url: string, body: unknown, token = VIEWER) =>
    app!.inject({ method: "POST", url, headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, payload: JSON.stringify(body) });
  const get = (url: string, token = VIEWER) => app!.inject({ method: "GET", url, headers: { authorization: `Bearer ${token}` } });

  it("keeps the budget, leases each item to one labeler, returns skipped items, and joins labels in the collector", async () => {
    dataDir = mkdtempSync(join(tmpdir(), "evoflow-al-"));
    await start();
    const joined = probe("joined");
    const running = await runtime!.deploy(pipeline());
    const serve = running.entrypoints.get("serve")!;
    // Two windows of 4: the first sends its 2 most uncertain (r1, r2); the second only 1 (budget 3 a day).
    const tops = [0.9, 0.4, 0.5, 0.8, 0.95, 0.35, 0.6, 0.99];
    for (const [i, top] of tops.entries()) await serve.invoke(request(i, top));
    await running.idle();
    const listed = (await get("/api/label-queues/fm/items")).json().items as { requestId: string; state: string; guesses: { label: number; name: string }[] }[];
    expect(listed.map((i) => i.requestId)).toEqual(["r1", "r2", "r5"]);
    expect(listed[0]).toMatchObject({ state: "queued", guesses: [{ label: 0, name: "a" }, { label: 1 }, { label: 2 }] });
    expect(running.status().nodes.sampler).toMatchObject({ queued: 3, budgetLeft: 0, selected: 3 });

    // Two labelers: each gets a different item (most uncertain first); asking again gives the one held.
    const ann = (await post("/api/label-queues/fm/next", { labeler: "ann" })).json().item;
    const bob = (await post("/api/label-queues/fm/next", { labeler: "bob" })).json().item;
    expect([ann.requestId, bob.requestId]).toEqual(["r5", "r1"]);
    expect((await post("/api/label-queues/fm/next", { labeler: "ann" })).json().item.id).toBe(ann.id);
    // Bob may not label Ann's item; Ann may.
    const stolen = await post(`/api/label-queues/fm/items/${ann.id}/label`, { labeler: "bob", label: 1 });
    expect(stolen.statusCode).toBe(409);
    expect(stolen.json().error).toMatch(/leased to ann/);
    expect((await post(`/api/label-queues/fm/items/${ann.id}/label`, { labeler: "ann", label: 2 })).json().item).toMatchObject({ state: "labelled", label: { value: 2, labeler: "ann" } });
    // Labelled once: a second label is refused, whoever sends it.
    expect((await post(`/api/label-queues/fm/items/${ann.id}/label`, { labeler: "ann", label: 1 })).statusCode).toBe(409);
    // Bad input: 4xx with a reason.
    expect((await post(`/api/label-queues/fm/items/${bob.id}/label`, { labeler: "bob", label: 7 })).json().error).toMatch(/class index 0–2/);
    expect((await post("/api/label-queues/fm/next", { labeler: "" })).statusCode).toBe(400);
    expect((await post("/api/label-queues/nope/next", { labeler: "ann" })).statusCode).toBe(404);

    // Bob skips: the item goes back, Ann gets r2 (unskipped first), then r1.
    expect((await post(`/api/label-queues/fm/items/${bob.id}/skip`, { labeler: "bob" })).json().item.state).toBe("queued");
    const next = (await post("/api/label-queues/fm/next", { labeler: "ann" })).json().item;
    expect(next.requestId).toBe("r2");
    await post(`/api/label-queues/fm/items/${next.id}/label`, { labeler: "ann", label: 0 });
    expect((await post("/api/label-queues/fm/next", { labeler: "ann" })).json().item.id).toBe(bob.id);

    await running.idle();
    expect(joined.received.map((m) => m.payload)).toMatchObject([
      { y: 2, requestId: "r5", x: [5, 1, 2, 3] },
      { y: 0, requestId: "r2", x: [2, 1, 2, 3] },
    ]);
    // Roles: a token is needed; reads are a viewer's.
    expect((await app!.inject({ method: "POST", url: "/api/label-queues/fm/next", headers: { "content-type": "application/json" }, payload: "{}" })).statusCode).toBe(401);
    // A page on another origin cannot label with a viewer's token (a label trains the next model).
    const foreign = await app!.inject({ method: "POST", url: "/api/label-queues/fm/next", headers: { authorization: `Bearer ${VIEWER}`, "content-type": "application/json", origin: "http://evil.example" }, payload: JSON.stringify({ labeler: "mallory" }) });
    expect(foreign.statusCode).toBe(403);
    expect(foreign.json().error).toMatch(/Origin http:\/\/evil\.example may not change this server/);
    expect((await get("/api/label-queues")).json().queues).toEqual([{ name: "fm", classes: ["a", "b", "c"], leaseMs: 300_000, counts: { queued: 0, leased: 1, labelled: 2 } }]);
  });

  it("counts the hourly budget over a rolling hour, the daily one over the day", async () => {
    dataDir = mkdtempSync(join(tmpdir(), "evoflow-al-hour-"));
    // Three items sent two hours ago, as the journal keeps them: they count for the day, not the hour.
    const earlier = await LabelQueue.open(join(dataDir, "label-queues"), "fm", { now: () => Date.now() - 2 * 3_600_000 });
    for (let i = 0; i < 3; i++) await earlier.add({ requestId: `old${i}`, input: [i], guesses: [], score: 0.5, strategy: "entropy", source: { pipeline: "al", node: "sampler" } });
    await earlier.close();
    await start();
    const running = await runtime!.deploy(pipeline({ window: { size: 1, perWindow: 1 }, budget: { perHour: 2, perDay: 6 } }));
    expect(running.status().nodes.sampler).toMatchObject({ budgetLeft: 2 });
    for (let i = 0; i < 3; i++) await running.entrypoints.get("serve")!.invoke(request(i, 0.4));
    await running.idle();
    // The hour allows two of the three; the day had room for three.
    expect(running.status().nodes.sampler).toMatchObject({ budgetLeft: 0, queued: 5 });
    expect((await queues!.get("fm")).list().map((i) => i.requestId)).toEqual(["old0", "old1", "old2", "r0", "r1"]);
  });

  it("returns an item whose lease expired to the queue", async () => {
    dataDir = mkdtempSync(join(tmpdir(), "evoflow-al-lease-"));
    await start();
    const running = await runtime!.deploy(pipeline({ leaseSeconds: 1, window: { size: 1, perWindow: 1 } }));
    await running.entrypoints.get("serve")!.invoke(request(0, 0.4));
    const queue = await queues!.get("fm");
    const item = (await queue.next("ann"))!;
    expect(await queue.next("bob")).toBeUndefined();
    await new Promise((r) => setTimeout(r, 1100));
    expect((await queue.next("bob"))!.id).toBe(item.id);
  });

  it("keeps queued items, labels, who gave them and the budget across a runtime restart", async () => {
    dataDir = mkdtempSync(join(tmpdir(), "evoflow-al-restart-"));
    await start();
    let running = await runtime!.deploy(pipeline({ window: { size: 2, perWindow: 2 } }));
    for (const [i, top] of [0.4, 0.5].entries()) await running.entrypoints.get("serve")!.invoke(request(i, top));
    await running.idle();
    const first = (await post("/api/label-queues/fm/next", { labeler: "ann" })).json().item;
    await post(`/api/label-queues/fm/items/${first.id}/label`, { labeler: "ann", label: 1 });
    const leased = (await post("/api/label-queues/fm/next", { labeler: "bob" })).json().item;
    await app!.close();
    await runtime!.close();
    await queues!.close();

    await start();
    const joined = probe("joined");
    running = await runtime!.deploy(pipeline({ window: { size: 2, perWindow: 2 } }));
    const items = (await get("/api/label-queues/fm/items")).json().items;
    expect(items.map((i: { requestId: string; state: string }) => [i.requestId, i.state])).toEqual([["r0", "labelled"], ["r1", "leased"]]);
    expect(items[0].label).toMatchObject({ value: 1, labeler: "ann", at: expect.any(Number) });
    // Bob's lease held over the restart: Ann cannot take his item.
    expect((await post("/api/label-queues/fm/next", { labeler: "ann" })).statusCode).toBe(204);
    // The budget (3 a day) counts the two sent before the restart: one more window of two sends one.
    for (const [i, top] of [0.3, 0.35].entries()) await running.entrypoints.get("serve")!.invoke(request(i + 10, top));
    await running.idle();
    expect(running.status().nodes.sampler).toMatchObject({ budgetLeft: 0, queued: 1, leased: 1, labelled: 1 });
    // A label given now joins, in the new runtime's collector, the request served before the restart.
    await post(`/api/label-queues/fm/items/${leased.id}/label`, { labeler: "bob", label: 2 });
    await running.idle();
    expect(joined.received.map((m) => m.payload)).toMatchObject([{ requestId: "r1", y: 2 }]);

    // A label given while the pipeline is stopped is kept and sent on when it is deployed again.
    await runtime!.undeploy("al");
    const waiting = (await post("/api/label-queues/fm/next", { labeler: "ann" })).json().item;
    await post(`/api/label-queues/fm/items/${waiting.id}/label`, { labeler: "ann", label: 0 });
    expect((await get("/api/label-queues/fm/items?state=labelled")).json().items.find((i: { id: string }) => i.id === waiting.id).delivered).toBeUndefined();
    running = await runtime!.deploy(pipeline({ window: { size: 2, perWindow: 2 } }));
    await running.idle();
    expect(joined.received.map((m) => m.payload)).toMatchObject([{ requestId: "r1" }, { requestId: waiting.requestId, y: 0 }]);
  });
});
