/**
 * python.function against real python3 workers: what it emits (payload, list, None), ctx.state,
 * a module beside its imports; what goes to the dead letters (exception with its traceback, a
 * worker killed mid-call, a crash's faulthandler traceback, a stuck call ended by the time
 * limit) while the node serves on with a replaced worker; what is refused (no exec, a path out of
 * the data folder at validate, a missing import at deploy); its status; undeploy ends the workers,
 * and so does the runtime's death.
 */
import { spawn } from "node:child_process";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { nodeTypes } from "../../runtime/node-types";
import { validatePipeline } from "../../runtime/validate";
import { createPythonWorkers } from "../../python/pool";
import { loadNode, NodeLoadError, provide, type LoadNodeOptions, type TestNode } from "../../testing";
import { python } from "../../nodes/services";
import { builtin } from "../nodes/builtin";
import { alive } from "../fixtures/alive";

/** The interpreter python3, or EVOFLOW_PYTHON when set (as the runtime takes it), so the tests run against either. */
const workers = () => createPythonWorkers({ interpreter: process.env.EVOFLOW_PYTHON || undefined });

let node: TestNode | undefined;
afterEach(async () => {
  await node?.stop();
  node = undefined;
});

const load = async (config: Record<string, unknown>, options: Partial<LoadNodeOptions> = {}) =>
  (node = await loadNode(builtin("python.function"), { config, grants: ["exec"], services: [provide(python, workers())], ...options }));

const until = async (check: () => boolean, ms = 5000) => {
  for (const end = Date.now() + ms; !check(); ) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 20));
  }
};

describe("python.function", () => {
  it("emits the payload returned, one message per list item, nothing for None; ctx.state persists", async () => {
    await load({
      code: [
        "def process(payload, ctx):",
        "    ctx.state['seen'] = ctx.state.get('seen', 0) + 1",
        "    if payload == 'skip':",
        "        return None",
        "    if payload == 'split':",
        "        return [{'part': 1}, {'part': 2}]",
        "    return {'payload': payload, 'seen': ctx.state['seen'], 'node': ctx.node}",
      ].join("\n"),
    });
    for (const p of ["a", "skip", "split", "b"]) await node!.send("in", p);
    expect(node!.payloads("out")).toEqual([{ payload: "a", seen: 1, node: "node" }, { part: 1 }, { part: 2 }, { payload: "b", seen: 4, node: "node" }]);
  });

  it("loads a module from the data folder, whose imports beside it are found", async () => {
    await load(
      { module: "features/main.py", function: "scale" },
      { files: { "features/main.py": "from helpers import factor\ndef scale(p, ctx):\n    return {'x': p['x'] * factor}\n", "features/helpers.py": "factor = 10\n" } },
    );
    await node!.send("in", { x: 4 });
    expect(node!.payloads("out")).toEqual([{ x: 40 }]);
  });

  it("dead-letters an exception with its Python traceback and serves on; status keeps the last traceback", async () => {
    await load({ code: "def process(p, ctx):\n    if p['n'] < 0:\n        raise ValueError(f\"negative: {p['n']}\")\n    return p\n" });
    await node!.send("in", { n: -2 });
    await node!.send("in", { n: 1 });
    const [letter] = node!.deadLetters();
    expect(letter.reason).toMatch(/^function process raised ValueError: negative: -2\nTraceback \(most recent call last\):\n {2}File "<node>", line 3, in process\n {4}raise ValueError/);
    expect(letter.reason).not.toContain("worker.py");
    expect(node!.payloads("out")).toEqual([{ n: 1 }]);
    expect(node!.status()).toMatchObject({ workers: 1, up: 1, restarts: 0, fill: "green", text: "1/1 up" });
    expect(node!.status().lastError).toBeUndefined(); // a call succeeded since
    await node!.send("in", { n: -1 });
    expect(node!.status().lastError).toMatch(/ValueError: negative: -1\nTraceback/);
    // The line under the node in the editor: red, with the failure's first line.
    expect(node!.status()).toMatchObject({ fill: "red", shape: "dot", text: "1/1 up · function process raised ValueError: negative: -1" });
  });

  it("replaces a worker killed with -9 mid-call: that message is dead-lettered, the next one succeeds", async () => {
    await load({ code: "import os, time\ndef process(p, ctx):\n    if p == 'slow':\n        time.sleep(2)\n    return os.getpid()\n", timeoutMs: 5000 });
    await node!.send("in", "pid");
    const [pid] = node!.payloads<number>("out");
    const slow = node!.send("in", "slow");
    await until(() => node!.status().busy === 1);
    process.kill(pid, "SIGKILL");
    await slow;
    expect(node!.deadLetters().map((l) => l.reason)).toEqual([expect.stringMatching(/Python worker 0 \(pid \d+\) of node "node" died \(signal SIGKILL\) while handling this message/)]);
    await node!.send("in", "pid");
    const [, replacement] = node!.payloads<number>("out");
    expect(replacement).not.toBe(pid);
    expect(node!.status()).toMatchObject({ up: 1, restarts: 1, fill: "green", text: "1/1 up · 1 restart" });
  });

  it("dead-letters a crash in the interpreter itself with faulthandler's traceback", async () => {
    await load({ code: "import faulthandler\ndef process(p, ctx):\n    if p == 'crash':\n        faulthandler._sigsegv()\n    return p\n" });
    await node!.send("in", "crash");
    await node!.send("in", "fine");
    const [letter] = node!.deadLetters();
    expect(letter.reason).toMatch(/died \(signal SIGSEGV\) while handling this message\nFatal Python error: Segmentation fault/);
    expect(letter.reason).toContain('File "<node>", line 4 in process');
    expect(node!.payloads("out")).toEqual(["fine"]);
  });

  it("ends a stuck call at the time limit: the message is dead-lettered naming it, the worker replaced", async () => {
    await load({ code: "import os\ndef process(p, ctx):\n    while p == 'spin':\n        pass\n    return os.getpid()\n", timeoutMs: 300 });
    await node!.send("in", "pid");
    const started = Date.now();
    await node!.send("in", "spin");
    expect(Date.now() - started).toBeLessThan(3000);
    expect(node!.deadLetters().map((l) => l.reason)).toEqual([
      expect.stringMatching(/^function process of node "node" exceeded its time limit of 300 ms \(timeoutMs\): its worker was killed and is being replaced/),
    ]);
    await node!.send("in", "pid");
    const [first, second] = node!.payloads<number>("out");
    expect(second).not.toBe(first);
    expect(alive(first)).toBe(false);
    expect(node!.status()).toMatchObject({ up: 1, restarts: 1 });
  });

  it("spreads calls in flight at once (sync callers here) over its workers, and ends them all on undeploy", async () => {
    await load({ code: "import os, time\ndef process(p, ctx):\n    time.sleep(0.2)\n    return os.getpid()\n", workers: 2 });
    await Promise.all([node!.send("in", 1), node!.send("in", 2)]);
    const pids = node!.payloads<number>("out");
    expect(new Set(pids).size).toBe(2);
    expect(node!.status()).toMatchObject({ workers: 2, up: 2 });
    await node!.stop();
    node = undefined;
    for (const pid of pids) expect(alive(pid)).toBe(false);
  });
});

describe("python.function refuses", () => {
  it("to load without the exec capability", async () => {
    const err = await load({ code: "def process(p, ctx):\n    return p\n" }, { grants: [] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NodeLoadError);
    expect((err as NodeLoadError).problems).toEqual([{ path: "$.type", message: expect.stringContaining('needs the "exec" capability') }]);
  });

  it("a module path out of the data folder, at validate, at its JSON path", () => {
    const result = validatePipeline(
      {
        apiVersion: "evoflow/v1",
        name: "py",
        nodes: [{ id: "f", type: "python.function", config: { module: "../x.py" } }, { id: "g", type: "python.function", config: {} }],
        edges: [{ from: "f.out", to: "g.in" }],
      },
      nodeTypes,
    );
    expect(result.ok).toBe(false);
    expect(!result.ok && result.problems).toEqual([
      { path: "$.nodes[0].config.module", message: expect.stringContaining("leaves the pipeline's data folder") },
      { path: "$.nodes[1].config", message: "give either module (a file) or code, not both nor neither" },
    ]);
  });

  it("a module whose import fails, at deploy, naming the missing module", async () => {
    const err = await load({ module: "features.py" }, { files: { "features.py": "import numpy\nimport no_such_module_xyz\ndef process(p, ctx):\n    return p\n" } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NodeLoadError);
    expect((err as NodeLoadError).problems).toEqual([
      { path: "$", message: expect.stringMatching(/module features\.py imports "no_such_module_xyz", which \S+ cannot find: ModuleNotFoundError: No module named 'no_such_module_xyz'/) },
    ]);
  });

  it("an interpreter that is not there, at deploy, naming it", async () => {
    const err = await load({ code: "def process(p, ctx):\n    return p\n" }, { services: [provide(python, createPythonWorkers({ interpreter: "python3-not-installed" }))] }).catch((e: unknown) => e);
    expect((err as NodeLoadError).problems?.[0].message).toContain('the Python interpreter "python3-not-installed" could not start');
  });
});

describe("Python workers outlive no runtime", () => {
  it("end within seconds when the runtime is killed with -9, even stuck in a call", async () => {
    const runtime = spawn(process.execPath, ["--import", "tsx", path.join(import.meta.dirname, "orphan-runtime.ts")], { stdio: ["ignore", "pipe", "inherit"] });
    const pid = Number(await new Promise<string>((resolve) => runtime.stdout!.once("data", (d: Buffer) => resolve(d.toString()))));
    expect(alive(pid)).toBe(true);
    runtime.kill("SIGKILL");
    await until(() => !alive(pid), 5000);
  });
});
