/**
 * evoflow/testing itself: what it promises a node author, each against a node made for the
 * case and run on the real engine — config refused with its JSON path, payloads in and out,
 * dead letters with reasons, status, services by typed key, capabilities granted explicitly,
 * the start/stop lifecycle with a data folder of its own, and timeouts that say what happened.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { configPath, defineNode, defineService, port, z } from "../../sdk";
import { loadNode, NodeLoadError, provide, type TestNode } from "../../testing";

let node: TestNode | undefined;
afterEach(async () => {
  await node?.stop();
  node = undefined;
});

const doubler = defineNode({
  type: "test.double",
  category: "transform",
  title: "Double",
  description: "Doubles `value`; counts what it saw; logs odd values; emits `big` too past `limit`.",
  inputs: { in: port.record() },
  outputs: { out: port.record(), big: port.record() },
  config: z.object({ limit: z.number().int().min(0).default(100) }),
  create: (ctx, config) => {
    let seen = 0;
    return {
      async onMessage(_port, message, emit) {
        const value = (message.payload as { value?: unknown }).value;
        if (typeof value !== "number") throw new Error(`value is ${JSON.stringify(value)}, not a number`);
        seen++;
        if (value % 2) ctx.log("info", "odd value", { value });
        await emit("out", { value: value * 2 });
        if (value * 2 > config.limit) await emit("big", { value: value * 2 });
      },
      status: () => ({ seen }),
    };
  },
});

describe("loadNode", () => {
  it("sends payloads in and hands back what the node emitted, per port and in order", async () => {
    node = await loadNode(doubler, { config: { limit: 10 } });
    await node.send("in", { value: 2 });
    await node.send("in", { value: 7 });
    expect(node.payloads("out")).toEqual([{ value: 4 }, { value: 14 }]);
    expect((await node.next("out")).payload).toEqual({ value: 4 });
    expect((await node.next("out")).payload).toEqual({ value: 14 });
    const big = await node.next("big");
    expect(big.payload).toEqual({ value: 14 });
    // Real envelopes: provenance points at the message that was sent in.
    expect(big.source).toMatchObject({ node: "node", port: "big" });
    expect(big.parents).toHaveLength(1);
    expect(node.status()).toMatchObject({ type: "test.double", in: 2, out: 3, errors: 0, seen: 2 });
    expect(node.logs()).toEqual([{ level: "info", message: "odd value", fields: expect.objectContaining({ value: 7, node: "node" }) }]);
  });

  it("waits for a message emitted later, and times out saying what it saw", async () => {
    node = await loadNode(doubler, { timeout: 200 });
    const waiting = node.next("out");
    await node.send("in", { value: 1 });
    expect((await waiting).payload).toEqual({ value: 2 });
    await node.send("in", { value: "x" });
    await expect(node.next("out")).rejects.toThrow(
      'node "node" (test.double) emitted nothing on "out" within 200 ms (its 1 earlier message there were taken by next()); its dead letters: [in] value is "x", not a number',
    );
    await expect(node.next("big", { timeout: 50 })).rejects.toThrow('emitted nothing on "big" within 50 ms; its dead letters');
  });

  it("turns a thrown error and a payload of the wrong port type into dead letters, and serves on", async () => {
    node = await loadNode(doubler);
    await node.send("in", { value: null });
    await node.send("in", [1, 2]);
    await node.send("in", { value: 3 });
    expect(node.deadLetters().map((l) => [l.port, l.reason, l.payload])).toEqual([
      ["in", "value is null, not a number", { value: null }],
      ["in", expect.stringMatching(/^payload does not match input node\.in: /), [1, 2]],
    ]);
    expect(node.payloads("out")).toEqual([{ value: 6 }]);
    expect(node.status()).toMatchObject({ in: 2, errors: 1 });
  });

  it("refuses an invalid config with the JSON path of each problem, as a deploy does", async () => {
    const refused = await loadNode(doubler, { config: { limit: -1, extra: true } as never }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(NodeLoadError);
    expect((refused as NodeLoadError).problems).toEqual([{ path: "$.config.limit", message: expect.stringMatching(/>=0/) }]);
    expect((refused as Error).message).toMatch(/^test\.double could not load:\n {2}\$\.config\.limit: /);
  });

  it("fails a send whose handling hangs, after the timeout", async () => {
    const hang = defineNode({
      type: "test.hang",
      category: "transform",
      title: "Hang",
      description: "Never finishes handling a message.",
      inputs: { in: port.any() },
      outputs: {},
      config: z.object({}),
      create: () => ({ onMessage: () => new Promise<void>(() => {}) }),
    });
    node = await loadNode(hang);
    await expect(node.send("in", 1, { timeout: 100 })).rejects.toThrow('node "node" (test.hang) did not finish handling a message on "in" within 100 ms');
    // stop() drains async edges only: the hung sync call does not hold it.
  });

  it("names unknown ports", async () => {
    node = await loadNode(doubler);
    await expect(node.send("nope", {})).rejects.toThrow('node "node" (test.double) has no input port "nope"; its inputs: in');
    expect(() => node!.emitted("nope")).toThrow('has no output port "nope"; its outputs: out, big');
  });
});

const clock = defineService<{ now(): number }>("test.clock");
const stamp = defineNode({
  type: "test.stamp",
  category: "transform",
  title: "Stamp",
  description: "Adds the clock service's time.",
  inputs: { in: port.any() },
  outputs: { out: port.any() },
  config: z.object({}),
  services: [clock],
  create: (ctx) => ({ onMessage: (_p, m, emit) => void emit("out", { at: ctx.service(clock).now(), payload: m.payload }) }),
});

describe("services and capabilities", () => {
  it("gives a service by its typed key, and refuses to load without it", async () => {
    await expect(loadNode(stamp)).rejects.toThrow('test.stamp could not load:\n  $.type: needs the "test.clock" service: give it with loadNode(def, { services: [provide(key, value)] })');
    // @ts-expect-error the key's type is checked: a clock's now() gives a number
    provide(clock, { now: () => "noon" });
    node = await loadNode(stamp, { services: [provide(clock, { now: () => 42 })] });
    await node.send("in", "hi");
    expect(node.payloads("out")).toEqual([{ at: 42, payload: "hi" }]);
  });

  it("grants no capability unless told, then lets the node write where its config points, in a data folder of its own", async () => {
    const writer = defineNode({
      type: "test.append",
      category: "io",
      title: "Append",
      description: "Appends each payload to a file.",
      inputs: { in: port.any() },
      outputs: {},
      capabilities: ["fs-write"],
      config: z.object({ path: configPath({ kind: "file", access: "write", describe: "File to append to" }) }),
      create: (ctx, config) => ({
        async onMessage(_p, m) {
          const file = await ctx.resolvePath(config.path, { forWrite: true });
          writeFileSync(file, `${readFileSync(file, "utf8")}${JSON.stringify(m.payload)}\n`);
        },
      }),
    });
    await expect(loadNode(writer, { config: { path: "log.txt" } })).rejects.toThrow('$.type: needs the "fs-write" capability: grant it with loadNode(def, { grants: ["fs-write"] })');
    // A path leaving the data folder is refused at load, at the config field.
    await expect(loadNode(writer, { config: { path: "../elsewhere.txt" }, grants: ["fs-write"] })).rejects.toThrow(/\$\.config\.path: "\.\.\/elsewhere\.txt" leaves the pipeline.s data folder/);

    node = await loadNode(writer, { config: { path: "log.txt" }, grants: ["fs-write"], files: { "log.txt": "first\n" } });
    await node.send("in", { n: 1 });
    const file = path.join(node.dataDir, "log.txt");
    expect(readFileSync(file, "utf8")).toBe('first\n{"n":1}\n');
    await node.stop();
    expect(existsSync(node.dataDir)).toBe(false);
  });
});

describe("the lifecycle", () => {
  it("starts sources, stops the instance, and restarts a fresh one on the same data folder", async () => {
    const events: string[] = [];
    const ticker = defineNode({
      type: "test.ticker",
      category: "io",
      title: "Ticker",
      description: "Emits its start count at start; keeps it in its data folder.",
      inputs: {},
      outputs: { out: port.any() },
      config: z.object({}),
      create: (ctx) => {
        const file = path.join(ctx.dataDir, "starts");
        const starts = existsSync(file) ? Number(readFileSync(file, "utf8")) + 1 : 1;
        writeFileSync(file, String(starts));
        return {
          start: (emit) => void emit("out", { starts }),
          stop: () => void events.push(`stopped after start ${starts}`),
        };
      },
    });
    node = await loadNode(ticker, { id: "tick" });
    expect((await node.next("out")).payload).toEqual({ starts: 1 });
    await node.restart();
    expect(events).toEqual(["stopped after start 1"]);
    expect((await node.next("out")).payload).toEqual({ starts: 2 });
    expect(readFileSync(path.join(node.dataDir, "tick/starts"), "utf8")).toBe("2");
    await node.stop();
    expect(events).toEqual(["stopped after start 1", "stopped after start 2"]);
    await expect(node.start()).rejects.toThrow("is stopped");
  });

  it("feeds a node that refuses sync inputs over async edges, and reports a start that fails", async () => {
    const collect = defineNode({
      type: "test.pairs",
      category: "control",
      title: "Pairs",
      description: "Emits every two payloads as one array.",
      acceptsSync: false,
      inputs: { in: port.any() },
      outputs: { out: port.any() },
      config: z.object({ fail: z.boolean().default(false) }),
      create: (_ctx, config) => {
        if (config.fail) throw new Error("no model to load");
        const held: unknown[] = [];
        return { onMessage: (_p, m, emit) => void (held.push(m.payload) === 2 && emit("out", held.splice(0))) };
      },
    });
    node = await loadNode(collect);
    await node.send("in", "a");
    expect(node.emitted("out")).toEqual([]);
    await node.send("in", "b");
    expect(node.payloads("out")).toEqual([["a", "b"]]);
    await expect(loadNode(collect, { config: { fail: true } })).rejects.toThrow('test.pairs could not load:\n  $: node "node" could not start: no model to load');
  });
});
