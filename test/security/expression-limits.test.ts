/**
 * Runaway JSONata (issue 18 point 6) through real deployed pipelines behind the real HTTP
 * server: each ends with 422 and a dead letter naming the limit it tripped, while another
 * pipeline in the same runtime and /v2/health/live keep answering, and the process lives on.
 */
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { allNodes } from "../../nodes";
import { createApi } from "../../runtime/api/server";
import { NodeTypes } from "../../runtime/node-types";
import { PipelineInvalidError, Runtime } from "../../runtime/runtime";
import { tempDir } from "../agent/helpers";

let runtime: Runtime;
let app: FastifyInstance;
let url: string;

const pipeline = (name: string, config: Record<string, unknown>, type = "transform.jsonata") => ({
  apiVersion: "evoflow/v1",
  name,
  nodes: [{ id: "h", type: "io.http" }, { id: "t", type, config }],
  edges: [{ from: "h.out", to: "t.in" }],
});

beforeAll(async () => {
  runtime = new Runtime({ nodeTypes: new NodeTypes(allNodes), dataDir: tempDir("expression-limits") });
  app = await createApi({ runtime });
  url = await app.listen({ port: 0, host: "127.0.0.1" });
  await runtime.deploy(pipeline("neighbour", { expression: "{ 'double': n * 2 }" }));
});

afterAll(async () => {
  await app?.close();
  await runtime?.close();
});

const post = async (name: string, body: unknown) => {
  const res = await fetch(`${url}/pipelines/${name}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body), signal: AbortSignal.timeout(30_000) });
  return { status: res.status, body: res.status === 204 ? undefined : ((await res.json()) as Record<string, unknown>) };
};
const deadLetters = async (name: string) => ((await (await fetch(`${url}/api/pipelines/${name}/dead-letters`)).json()) as { letters: { reason: string; node: string }[] }).letters;

/** Both neighbours answer correctly; returns when. */
async function neighboursAnswer(): Promise<number> {
  const [live, neighbour] = await Promise.all([fetch(`${url}/v2/health/live`), post("neighbour", { n: 21 })]);
  expect(live.status).toBe(200);
  expect(neighbour).toEqual({ status: 200, body: { double: 42 } });
  return performance.now();
}

// The long runaways get a limit of 200 ms: at 1 s a fast, idle machine finished the filter of a million items in time.
const LONG_LIMIT_MS = 200;
const TIME = /JSONata expression exceeded its time limit of 200 ms/;
const RUNAWAYS: { name: string; expression: string; reason: RegExp; long?: boolean }[] = [
  // The two reported: a recursion that filled the heap, a range that blocked the process for 15 s.
  { name: "recursion", expression: "($f := function($n){ $n = 0 ? 0 : 1 + $f($n-1) }; $f(1000000))", reason: /depth limit of 500 \(/ },
  { name: "range-map", expression: "$sum([1..10000000].($*2))", reason: /made an array of 10,000,000 items \(limit 1,000,000\)/ },
  // jsonata runs calls in tail position as a loop: these two run until the clock stops them.
  { name: "mutual-recursion", expression: "($even := function($n){ $n = 0 ? true : $odd($n-1) }; $odd := function($n){ $n = 0 ? false : $even($n-1) }; $even(100000000))", reason: TIME, long: true },
  { name: "endless-loop", expression: "($loop := function(){ $loop() }; $loop())", reason: TIME, long: true },
  { name: "string-doubling", expression: "$reduce([1..40], function($a, $i){ $a & $a }, 'x')", reason: /made a string of 16,777,216 characters \(limit 10,000,000\)/ },
  { name: "shared-doubling", expression: "$reduce([1..40], function($a, $i){ [$a, $a] }, 1)", reason: /made an array of 1,048,576 items \(limit 1,000,000\)/ },
  { name: "map-huge", expression: "$map([1..10000000], function($v){ $v * 2 })", reason: /made an array of 10,000,000 items/ },
  { name: "map-long", expression: "$count($map([1..1000000], function($v){ $v * 2 }))", reason: TIME, long: true },
  { name: "filter-long", expression: "$count([1..1000000][$ % 2 = 0])", reason: TIME, long: true },
  // One builtin call no hook sees: ends in the worker, by its deadline or its heap limit.
  { name: "sort-function", expression: "$sort([1..100000], function($a, $b){ $a < $b })", reason: /time limit of 200 ms|memory limit of 256 MB/, long: true },
  { name: "distinct-long", expression: "$distinct([1..100000])", reason: TIME, long: true },
  // $eval wraps errors inside it in its own: the limit still comes out named.
  { name: "eval-recursion", expression: "$eval('($f := function($n){ $n = 0 ? 0 : 1 + $f($n-1) }; $f(1000000))')", reason: /depth limit of 500 \(|time limit of 1,000 ms/ },
  // A back-reference needs V8's backtracking engine, which no hook interrupts: the worker's deadline ends it.
  { name: "regex-backreference", expression: "$match($pad('', 40, 'a') & 'c', /(a|a)*\\1b/)", reason: TIME, long: true },
];

describe("runaway JSONata", () => {
  for (const { name, expression, reason, long } of RUNAWAYS)
    it(`${name}: 422 and a dead letter naming the limit; the neighbours answer meanwhile`, async () => {
      await runtime.deploy(pipeline(`runaway-${name}`, long ? { expression, timeoutMs: LONG_LIMIT_MS } : { expression }));
      const started = performance.now();
      const runaway = post(`runaway-${name}`, { n: 1 }).then((r) => ({ ...r, at: performance.now() }));
      const neighboursAt = await neighboursAnswer();
      const { status, body, at } = await runaway;
      expect(status).toBe(422);
      expect(body?.error).toMatch(reason);
      expect(body?.node).toBe("t");
      // Ended within its limit (1 s) and the slack of a machine shared with other tests.
      expect(at - started).toBeLessThan(6_000);
      if (long) expect(neighboursAt).toBeLessThan(at);
      const letters = await deadLetters(`runaway-${name}`);
      expect(letters).toHaveLength(1);
      expect(letters[0].reason).toMatch(reason);
      // The process lives on and serves.
      await neighboursAnswer();
      await runtime.undeploy(`runaway-${name}`);
    });

  it("control.switch: a runaway condition dead-letters the message with the limit named", async () => {
    const config = { rules: [{ when: "($loop := function(){ $loop() }; $loop())", port: "yes" }], timeoutMs: 300 };
    await runtime.deploy(pipeline("switch-runaway", config, "control.switch"));
    const runaway = post("switch-runaway", { n: 1 }).then((r) => ({ ...r, at: performance.now() }));
    const neighboursAt = await neighboursAnswer();
    const { status, body, at } = await runaway;
    expect(status).toBe(422);
    expect(body?.error).toMatch(/time limit of 300 ms/);
    expect(neighboursAt).toBeLessThan(at);
    expect((await deadLetters("switch-runaway"))[0].reason).toMatch(/time limit of 300 ms/);
  });

  it("after a runaway, the same expression keeps answering its other messages rightly (off the runtime's thread, then back)", async () => {
    await runtime.deploy(pipeline("sometimes", { expression: "n > 0 ? ($loop := function(){ $loop() }; $loop()) : { 'fast': true }", timeoutMs: 300 }));
    expect((await post("sometimes", { n: 1 })).status).toBe(422);
    for (let i = 0; i < 25; i++) expect(await post("sometimes", { n: 0 })).toEqual({ status: 200, body: { fast: true } });
    expect((await post("sometimes", { n: 1 })).body?.error).toBe("JSONata expression exceeded its time limit of 300 ms");
    expect(await post("sometimes", { n: 0 })).toEqual({ status: 200, body: { fast: true } });
  });

  it("a runaway on an async branch dead-letters there; the sync reply is not held", async () => {
    await runtime.deploy({
      apiVersion: "evoflow/v1",
      name: "async-runaway",
      nodes: [
        { id: "h", type: "io.http" },
        { id: "reply", type: "transform.jsonata", config: { expression: "{ 'ok': true }" } },
        { id: "slow", type: "transform.jsonata", config: { expression: "$count([1..1000000][$ % 2 = 0])", timeoutMs: 500 } },
      ],
      edges: [
        { from: "h.out", to: "reply.in" },
        { from: "h.out", to: "slow.in", mode: "async" },
      ],
    });
    expect(await post("async-runaway", {})).toEqual({ status: 200, body: { ok: true } });
    await expect.poll(async () => (await deadLetters("async-runaway")).map((l) => [l.node, l.reason]), { timeout: 10_000 }).toEqual([["slow", "JSONata expression exceeded its time limit of 500 ms"]]);
  });
});

describe("legitimate JSONata under the limits", () => {
  const cases: { name: string; expression: string; input: unknown; expected: unknown; timeoutMs?: number; maxDepth?: number }[] = [
    { name: "fields", expression: "{ 'sum': $sum(x), 'mean': $average(x), 'n': $count(x) }", input: { x: [1, 2, 3] }, expected: { sum: 6, mean: 2, n: 3 } },
    // 512 deep, past the default maxDepth, and slow enough to continue in the worker.
    { name: "recursion-170", expression: "($fact := function($n){ $n <= 1 ? 1 : $n * $fact($n-1) }; $fact(170) > 7e306)", input: {}, expected: true, maxDepth: 600 },
    { name: "sort-long", expression: "$sort(x)[[0, -1]]", input: { x: Array.from({ length: 5000 }, (_, i) => 5000 - i) }, expected: [1, 5000] },
    // Past INLINE_SORT_ITEMS: sorted in the worker (at the lowest priority, so given time on a busy machine).
    { name: "sort-huge", expression: "$sort([1..200000])[[0, -1]]", input: {}, expected: [1, 200_000], timeoutMs: 10_000 },
    { name: "sort-function", expression: "$sort(x, function($a, $b){ $a < $b })", input: { x: [1, 3, 2] }, expected: [3, 2, 1] },
    { name: "distinct", expression: "$distinct(x)", input: { x: [1, 1, 2, 3, 3] }, expected: [1, 2, 3] },
    { name: "regex-linear", expression: "$match(s, /(a+)+b/).match", input: { s: "xaaab" }, expected: "aaab" },
    { name: "regex-backreference", expression: "$match(s, /(ab)\\1/).match", input: { s: "xxabab" }, expected: "abab" },
    { name: "eval-regex-backreference", expression: "$eval('$match(s, /(ab)\\\\1/).match', $)", input: { s: "xxabab" }, expected: "abab" },
    // 0.37 s alone (deploy and request included), over 1 s when the suite loads both cores: its own limit, as a user would set for a batch this size.
    { name: "big-input", expression: "$count(x[$ > 10])", input: { x: Array.from({ length: 100_000 }, (_, i) => i) }, expected: 99_989, timeoutMs: 10_000 },
  ];
  for (const { name, expression, input, expected, timeoutMs, maxDepth } of cases)
    it(`${name}: ${expression.slice(0, 50)}`, async () => {
      await runtime.deploy(pipeline(`legit-${name}`, { expression, timeoutMs, maxDepth }));
      expect(await post(`legit-${name}`, input)).toEqual({ status: 200, body: expected });
      expect(await deadLetters(`legit-${name}`)).toEqual([]);
    });

  it("catastrophic backtracking on a pattern the linear engine can run answers at once, on the runtime's thread", async () => {
    await runtime.deploy(pipeline("legit-backtracking", { expression: "{ 'match': $match(s, /(a+)+b/).match, 'found': $contains(s, /(a+)+b/) }", timeoutMs: 5_000 }));
    // Backtracking alone, 40 a's already take hours; a 200 means it ended within its 5 s limit.
    expect(await post("legit-backtracking", { s: `${"a".repeat(40_000)}c` })).toEqual({ status: 200, body: { found: false } });
    expect(await post("legit-backtracking", { s: "xaab" })).toEqual({ status: 200, body: { match: "aab", found: true } });
  });

  it("timeoutMs and maxDepth are bounded in the config schema, with their JSON paths", async () => {
    const refused = await runtime.deploy(pipeline("bad-limits", { expression: "$", timeoutMs: 0, maxDepth: 1e9 })).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(PipelineInvalidError);
    expect((refused as PipelineInvalidError).problems.map((p) => p.path).sort()).toEqual(["$.nodes[1].config.maxDepth", "$.nodes[1].config.timeoutMs"]);
    const res = await fetch(`${url}/api/pipelines`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(pipeline("bad-limits", { expression: "$", timeoutMs: 120_000 })) });
    expect(res.status).toBe(400);
    expect(JSON.stringify(await res.json())).toContain("$.nodes[1].config.timeoutMs");
  });

  it("a lower maxDepth is the one enforced and named", async () => {
    await runtime.deploy(pipeline("shallow", { expression: "($f := function($n){ $n = 0 ? 0 : 1 + $f($n-1) }; $f(100))", maxDepth: 50 }));
    const { status, body } = await post("shallow", {});
    expect(status).toBe(422);
    expect(body?.error).toMatch(/depth limit of 50 /);
  });
});
