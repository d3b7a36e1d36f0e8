/**
 * transform.function with evoflow/testing on the real engine: state (across messages and a
 * restart), async code, several outputs and ctx.emit, the time and memory limits, what the
 * code cannot reach without `exec`, a listed lib with it, and syntax errors at validate time.
 */
import { spawn } from "node:child_process";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { nodeTypes } from "../../runtime/node-types";
import { validatePipeline } from "../../runtime/validate";
import { loadNode, NodeLoadError, type TestNode } from "../../testing";
import { builtin } from "./builtin";

let node: TestNode | undefined;
afterEach(async () => {
  await node?.stop();
  node = undefined;
});

const fn = builtin("transform.function");
const load = (config: Record<string, unknown>, options: Record<string, unknown> = {}) => loadNode(fn, { config, ...options });

describe("transform.function", () => {
  it("returns a value on the first output; undefined and null send nothing", async () => {
    node = await load({ code: "if (payload.skip) return payload.skip === 'null' ? null : undefined; return { doubled: payload.n * 2 };" });
    await node.send("in", { n: 21 });
    await node.send("in", { skip: "undefined" });
    await node.send("in", { skip: "null" });
    expect(node.payloads("out")).toEqual([{ doubled: 42 }]);
    expect(node.deadLetters()).toEqual([]);
  });

  it("keeps ctx.state between messages and across a restart (saved in its data folder)", async () => {
    node = await load({ code: "ctx.state.count = (ctx.state.count ?? 0) + 1; return ctx.state.count;" });
    await node.send("in", {});
    await node.send("in", {});
    expect(node.payloads("out")).toEqual([1, 2]);
    await node.restart();
    await node.send("in", {});
    expect(node.payloads("out")).toEqual([1, 2, 3]);
  });

  it("may be async, emits on several outputs with ctx.emit and logs with ctx.log", async () => {
    node = await load({
      outputs: ["out", "alert"],
      code: "await new Promise((r) => r()); if (payload.score > 0.9) await ctx.emit('alert', { hot: payload.score }); ctx.log.warn('seen', payload.score); return payload;",
    });
    await node.send("in", { score: 0.95 });
    await node.send("in", { score: 0.5 });
    expect(node.payloads("alert")).toEqual([{ hot: 0.95 }]);
    expect(node.payloads("out")).toEqual([{ score: 0.95 }, { score: 0.5 }]);
    expect(node.logs().filter((l) => l.level === "warn").map((l) => l.message)).toEqual(["seen 0.95", "seen 0.5"]);
  });

  it("refuses ctx.emit to a port it does not declare: a dead letter naming its outputs", async () => {
    node = await load({ code: "await ctx.emit('nowhere', 1);" });
    await node.send("in", {});
    expect(node.deadLetters()[0].reason).toMatch(/ctx\.emit\("nowhere"\): no such output; the node's outputs: out/);
  });

  it("copies a payload's own \"__proto__\" key (as JSON.parse makes it) as data, both ways: no prototype is set", async () => {
    node = await load({ code: "return { inside: [Object.getPrototypeOf(payload) === Object.prototype, Object.hasOwn(payload, '__proto__'), payload.polluted], echo: payload };" });
    await node.send("in", JSON.parse('{"__proto__": {"polluted": true}, "a": 1}'));
    const out = node.payloads<{ inside: unknown[]; echo: Record<string, unknown> }>("out")[0];
    expect(out.inside).toEqual([true, true, undefined]);
    expect(Object.getPrototypeOf(out.echo)).toBe(Object.prototype);
    expect(Object.keys(out.echo)).toEqual(["__proto__", "a"]);
    expect((out.echo as { polluted?: boolean }).polluted).toBeUndefined();
  });


  it("hands the code a copy with the payload's own keys in order and nothing else (no hidden key, symbol or function)", async () => {
    node = await load({ code: "return { keys: Reflect.ownKeys(payload).map(String), nested: Reflect.ownKeys(payload.n).map(String), json: JSON.stringify(payload), spread: { ...payload, k: 1 }, assigned: Object.assign({}, payload, { k: 1 }) };" });
    await node.send("in", { b: 1, 2: "two", a: { y: [1, { z: 2 }], x: null }, f: () => 1, [Symbol("s")]: 1, n: { q: true } });
    const out = node.payloads<Record<string, unknown>>("out")[0];
    expect(out.keys).toEqual(["2", "b", "a", "n"]);
    expect(out.nested).toEqual(["q"]);
    expect(out.json).toBe('{"2":"two","b":1,"a":{"y":[1,{"z":2}],"x":null},"n":{"q":true}}');
    const expected = { 2: "two", b: 1, a: { y: [1, { z: 2 }], x: null }, n: { q: true }, k: 1 };
    expect(out.spread).toEqual(expected);
    expect(out.assigned).toEqual(expected);
    expect(Object.keys(out.spread as object)).toEqual(["2", "b", "a", "n", "k"]);
  });

  it("binds the builtins its code names when it is compiled: a replaced globalThis.Math is read through globalThis only", async () => {
    node = await load({ code: "if (payload.plant) { globalThis.Math = { max: () => 'replaced' }; return 'planted'; } return [Math.max(1, 2), globalThis.Math.max(1, 2), JSON.stringify(Object.keys({ a: 1 })), typeof Array.isArray];" });
    await node.send("in", { plant: false });
    await node.send("in", { plant: true });
    await node.send("in", { plant: false });
    expect(node.payloads("out")).toEqual([[2, 2, '["a"]', "function"], "planted", [2, "replaced", '["a"]', "function"]]);
  });

  it("keeps a copied \"__proto__\" key data when the code put a get or set on Object.prototype", async () => {
    node = await load({ code: "if (payload.plant) { Object.prototype.get = () => 'planted'; return 'planted'; } return [Object.getOwnPropertyDescriptor(payload, '__proto__'), Object.getPrototypeOf(payload) === Object.prototype];" });
    await node.send("in", { plant: true });
    await node.send("in", JSON.parse('{"__proto__": 1}'));
    expect(node.payloads("out")[1]).toEqual([{ value: 1, writable: true, enumerable: true, configurable: true }, true]);
  });
  it("keeps typed arrays typed across the sandbox", async () => {
    node = await load({ code: "return { sum: payload.x.reduce((a, b) => a + b, 0), x: payload.x.map((v) => v * 2) };" });
    await node.send("in", { x: new Float32Array([1, 2, 3]) });
    const out = node.payloads<{ sum: number; x: Float32Array }>("out")[0];
    expect(out.sum).toBe(6);
    expect(out.x).toBeInstanceOf(Float32Array);
    expect([...out.x]).toEqual([2, 4, 6]);
  });
});

describe("transform.function limits", () => {
  const cases: [string, string, Record<string, unknown>, RegExp][] = [
    ["an endless loop", "while (true) {}", { timeoutMs: 300 }, /JavaScript function exceeded its time limit of 300 ms/],
    ["an endless loop whose limit error is caught", "for (;;) { try { while (true) {} } catch {} }", { timeoutMs: 300 }, /time limit of 300 ms/],
    ["an endless recursion", "const f = () => f(); f();", { timeoutMs: 300 }, /time limit of 300 ms|Maximum call stack/],
    ["a promise that never settles", "await new Promise(() => {});", { timeoutMs: 300 }, /time limit of 300 ms/],
    ["a loop after an emit (it cannot start over: ends on the runtime's thread)", "await ctx.emit('out', 1); while (true) {}", { timeoutMs: 300 }, /time limit of 300 ms/],
    // A memory bomb's time limit is wide: on a loaded machine the time limit had tripped first.
    ["a memory bomb", "const a = []; while (true) a.push(new Array(1e6).fill(1));", { timeoutMs: 8_000 }, /memory limit of \d+ MB/],
    ["a memory bomb after a log (on the runtime's thread)", "ctx.log('start'); const a = []; while (true) a.push(new Array(1e6).fill(1));", { timeoutMs: 8_000 }, /memory limit of 128 MB/],
    ["a memory bomb in a worker", "const a = []; while (true) a.push(new Array(1e6).fill(1));", { isolation: "worker", timeoutMs: 8_000 }, /memory limit of 256 MB/],
    ["an endless loop in a worker", "while (true) {}", { isolation: "worker", timeoutMs: 300 }, /time limit of 300 ms/],
  ];
  for (const [name, code, config, reason] of cases)
    it(`${name}: a dead letter naming the limit, and the node answers its next message`, async () => {
      node = await load({ code: `if (payload.ok) return 'fine'; ${code}`, ...config });
      await node.send("in", { ok: false }, { timeout: 10_000 });
      const letters = node.deadLetters();
      expect(letters).toHaveLength(1);
      expect(letters[0].reason).toMatch(reason);
      await node.send("in", { ok: true });
      expect(node.payloads("out").at(-1)).toBe("fine");
    });
});

describe("transform.function in the worker pool", () => {
  it("a runtime whose code ran in the pool (asked for, or moved there after a slow run) exits once closed", async () => {
    const script = path.join(import.meta.dirname, "function-pool-exit.ts");
    const child = spawn(process.execPath, ["--import", "tsx", script], { cwd: path.resolve(import.meta.dirname, "../.."), stdio: ["ignore", "pipe", "inherit"] });
    let stdout = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d));
    const killer = setTimeout(() => child.kill("SIGKILL"), 30_000);
    const [code, signal] = await new Promise<[number | null, string | null]>((resolve) => child.once("exit", (c, s) => resolve([c, s])));
    clearTimeout(killer);
    expect(JSON.parse(stdout)).toEqual([
      { i: 1, worker: true, inline: true },
      { i: 2, worker: true, inline: true },
    ]);
    // Killed instead when an idle worker holds the event loop open (it did: the bench's children never ended).
    expect({ code, signal }).toEqual({ code: 0, signal: null });
  }, 40_000);
});

describe("transform.function and a catastrophically backtracking regular expression", () => {
  it("answers at once (V8's linear-time engine takes over; without it this match takes minutes)", async () => {
    node = await load({ code: "return /(a+)+$/.test('a'.repeat(32) + 'b');", timeoutMs: 300 });
    const started = performance.now();
    await node.send("in", {});
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(node.payloads("out")).toEqual([false]);
  });
});

describe("transform.function without exec", () => {
  const escapes: [string, string][] = [
    ["require", "return typeof require"],
    ["process", "return typeof process"],
    ["globalThis.process", "return typeof globalThis.process"],
    ["this.constructor.constructor", "return this.constructor.constructor('return typeof process')()"],
    ["the payload's constructor", "return payload.constructor.constructor('return typeof process')()"],
    ["ctx.emit's constructor", "return ctx.emit.constructor('return typeof process')()"],
    ["a promise's constructor", "return ctx.emit('out', 1).constructor.constructor('return typeof process')()"],
    ["eval", "return eval('typeof process')"],
    ["import()", "return typeof (await import('node:fs')).readFileSync"],
  ];
  for (const [name, code] of escapes)
    it(`${name} does not reach the host's process or modules`, async () => {
      node = await load({ code: `try { ${code} } catch (err) { return 'refused: ' + err.message }` });
      await node.send("in", {});
      const out = node.payloads<string>("out").at(-1) ?? node.deadLetters()[0]?.reason;
      expect(out).not.toBe("object");
      expect(out).not.toBe("function");
      expect(out).toMatch(/^(undefined|refused: .+)$/);
    });

  // Builtins the code replaces on one message, waiting for the sandbox to hand them a host object on the next:
  // `grab` records what a host object's Function would return.
  const planted: [string, string, string][] = [
    ["Function.prototype.call (the payload's copy)", "const call = Function.prototype.call; Function.prototype.call = function (...a) { grab(this, ...a); return Reflect.apply(call, this, a); };", "return 1;"],
    ["a typed array's constructor (the payload's copy)", "globalThis.Float32Array = function (...a) { grab(...a); return new Uint8Array(0); };", "return 1;"],
    ["a setter on Object.prototype (the payload's copy)", "Object.defineProperty(Object.prototype, 'nested', { set(v) { grab(v); }, configurable: true });", "return 1;"],
    ["Promise.prototype.then (the host awaiting a result)", "const then = Promise.prototype.then; Promise.prototype.then = function (...a) { grab(...a); return Reflect.apply(then, this, a); };", "return new Promise((r) => r(2));"],
    ["a promise's own then (the host awaiting a result)", "", "const p = new Promise((r) => r(2)); p.then = function (...a) { grab(...a); return Promise.prototype.then.apply(this, a); }; return p;"],
    ["a result's then set after it settled", "", "const o = { v: 1 }; Promise.resolve().then(() => { o.then = (...a) => grab(...a); }); return Promise.resolve().then(() => o);"],
    ["String, Error and Array.prototype.join (emit and log)", "globalThis.String = (...a) => (grab(...a), 'x'); globalThis.Error = function (...a) { grab(...a); }; const join = Array.prototype.join; Array.prototype.join = function (...a) { grab(this, ...a); return Reflect.apply(join, this, a); };", "ctx.log('hello', { a: 1 }); return ctx.emit('nowhere', 1).then(() => 1, () => 1);"],
  ];
  for (const [name, plant, trigger] of planted)
    it(`a replaced builtin is handed no host object: ${name}`, async () => {
      const grab = "const st = ctx.state; const grab = (...xs) => { for (const x of xs) try { const p = x.constructor.constructor('return typeof process')(); if (p !== undefined) st.leaked = p; } catch {} };";
      node = await load({ code: `if (payload.step === 1) { ctx.state.leaked = 'nothing'; ${grab} ${plant} return 'planted'; } if (payload.step === 2) { ${trigger} } return ctx.state.leaked;` });
      await node.send("in", { step: 1 });
      await node.send("in", { step: 2, nested: { a: [1, { b: 2 }] }, x: new Float32Array([1]) });
      await node.send("in", { step: 3 });
      expect(node.payloads("out").at(-1)).toBe("nothing");
    });

  it("a node listing libs needs exec, and with it may require exactly those", async () => {
    await expect(load({ libs: ["zod"], code: "return 1" })).rejects.toThrow(/needs the "exec" capability/);
    node = await load({ libs: ["zod"], code: "if (payload.other) return require('jsonata'); const { z } = require('zod'); return z.number().safeParse(payload.n).success;" }, { grants: ["exec"] });
    await node.send("in", { n: 3 });
    expect(node.payloads("out")).toEqual([true]);
    await node.send("in", { other: true });
    expect(node.deadLetters()[0].reason).toMatch(/require\("jsonata"\): not in the node's libs \(zod\)/);
  });
});

describe("transform.function at validate time", () => {
  it("reports a syntax error with the JSON path of its code field, before any deploy", () => {
    const pipeline = {
      apiVersion: "evoflow/v1",
      name: "broken",
      nodes: [
        { id: "f", type: "transform.function", config: { code: "const a = 1;\nlet x = ;" } },
        { id: "g", type: "transform.function", config: { code: "return {" } },
      ],
      edges: [],
    };
    const { problems } = validatePipeline(pipeline, nodeTypes);
    expect(problems).toEqual([
      { path: "$.nodes[0].config.code", message: "JavaScript syntax error at line 2, column 9: Unexpected token" },
      { path: "$.nodes[1].config.code", message: "JavaScript syntax error at the end of the code: Unexpected token" },
    ]);
  });

  it("loadNode refuses the same code at $.config.code", async () => {
    const err = await load({ code: "let x = ;" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NodeLoadError);
    expect((err as NodeLoadError).problems[0].path).toBe("$.config.code");
  });
});
