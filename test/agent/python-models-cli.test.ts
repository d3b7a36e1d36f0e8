/**
 * Python models through the commands, as real processes: `evoflow model register` packs a model
 * folder (or takes an sklearn file) only with --allow-exec, and `evoflow agent` serves them over
 * /v2 only when started with --allow-exec.
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { FsModelRegistry } from "../../runtime/registry/fs";
import { tempDir } from "./helpers";
import { pythonWithSklearn, trainSklearn } from "./python-fixtures";

const root = join(import.meta.dirname, "../..");
const PYTHON = pythonWithSklearn();
const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
});

function evoflow(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [join(root, "bin/evoflow.js"), ...args], { timeout: 60_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

function startAgent(args: string[]): Promise<{ url: string; out: () => string }> {
  const child = spawn(process.execPath, [join(root, "bin/evoflow.js"), "agent", "--port", "0", ...args], { cwd: tempDir("pyagent-cwd"), stdio: ["ignore", "pipe", "pipe"] });
  children.push(child);
  let out = "";
  return new Promise((resolve, reject) => {
    child.stdout!.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) resolve({ url: m[1], out: () => out });
    });
    child.stderr!.on("data", (chunk: Buffer) => (out += chunk.toString()));
    child.once("exit", (code) => reject(new Error(`agent exited (${code}): ${out}`)));
  });
}

const infer = (url: string, model: string, input: unknown) =>
  fetch(`${url}/v2/models/${model}/infer`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ inputs: [input] }), signal: AbortSignal.timeout(30_000) });

describe("Python models through the commands", () => {
  it("registers a model folder and an sklearn file with --allow-exec only, and an --allow-exec agent serves both", async () => {
    const dir = tempDir("pycli");
    const registry = join(dir, "registry");
    const folder = join(dir, "plus-one");
    mkdirSync(join(folder, "data"), { recursive: true });
    writeFileSync(join(folder, "data", "offset.txt"), "1");
    writeFileSync(
      join(folder, "model.py"),
      `import os
class PlusOne:
    def load(self):
        self.offset = float(open(os.path.join(os.path.dirname(__file__), "data", "offset.txt")).read())
    def predict(self, inputs):
        return {"y": inputs["x"] + self.offset}
`,
    );
    writeFileSync(join(dir, "signature.json"), JSON.stringify({ inputs: [{ name: "x", dtype: "float64", shape: [-1] }], outputs: [{ name: "y", dtype: "float64", shape: [-1] }] }));

    const refused = await evoflow(["model", "register", folder, "--name", "plus", "--format", "python", "--registry", registry]);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/runs its code.*needs exec.*--allow-exec/);
    const ok = await evoflow(["model", "register", folder, "--name", "plus", "--format", "python", "--allow-exec", "--signature", join(dir, "signature.json"), "--promote", "--registry", registry]);
    expect(ok.stderr).toBe("");
    expect(ok.stdout).toMatch(/registered plus@1 \(champion, python, sha256/);
    const clf = trainSklearn(PYTHON, dir, { name: "clf", seed: 5, features: 3, classes: 2, rows: 4 });
    expect((await evoflow(["model", "register", join(dir, "clf.joblib"), "--name", "clf", "--format", "sklearn", "--allow-exec", "--promote", "--registry", registry])).code).toBe(0);
    const reg = new FsModelRegistry(registry);
    expect((await reg.get("plus", 1))!.signature.inputs).toEqual([{ name: "x", kind: "tensor", dtype: "float64", shape: [-1] }]);
    await reg.close();

    // Without --allow-exec the agent refuses, with a 403 that names the flag.
    const plain = await startAgent(["--registry", registry, "--cache", join(dir, "cache1")]);
    const denied = await infer(plain.url, "clf", { name: "input", shape: [1, 3], datatype: "FP32", data: [0, 0, 0] });
    expect(denied.status).toBe(403);
    expect((await denied.json()).error).toMatch(/--allow-exec/);

    const agent = await startAgent(["--registry", registry, "--cache", join(dir, "cache2"), "--allow-exec", "--python", PYTHON, "--memory", "1GB"]);
    expect(agent.out()).toMatch(/backend onnxruntime\+python on cpu/);
    const plus = await infer(agent.url, "plus", { name: "x", shape: [3], datatype: "FP64", data: [1, 2.5, -1] });
    expect(plus.status).toBe(200);
    expect((await plus.json()).outputs).toEqual([{ name: "y", datatype: "FP64", shape: [3], data: [2, 3.5, 0] }]);
    const labels = await infer(agent.url, "clf", { name: "input", shape: [4, 3], datatype: "FP32", data: clf.x });
    expect((await labels.json()).outputs[0]).toEqual({ name: "label", datatype: "INT64", shape: [4], data: clf.label });
    const status = await (await fetch(`${agent.url}/api/agent`)).json();
    expect(status.models.map((m: { name: string; format: string }) => `${m.name}:${m.format}`).sort()).toEqual(["clf:sklearn", "plus:python"]);
  }, 120_000);
});
