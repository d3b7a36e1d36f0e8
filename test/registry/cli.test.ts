import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FsModelRegistry } from "../../runtime/registry/fs";
import { NatsModelRegistry } from "../../runtime/registry/nats";
import { NatsServer } from "../nats/server";
import type { ModelSummary, ModelVersion } from "../../sdk/registry";
import { makeMlp } from "../fixtures/mlp";

const root = path.resolve(import.meta.dirname, "../..");
/** Each test spawns the CLI several times (about a second each on an idle machine, several under load). */
const SPAWNS_TIMEOUT_MS = 180_000;
let dir: string;
let registryDir: string;

function evoflow(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [path.join(root, "bin/evoflow.js"), ...args], { cwd: dir, env: { ...process.env, ...env } }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "evoflow-model-cli-"));
  registryDir = path.join(dir, "reg");
  await writeFile(path.join(dir, "small.onnx"), makeMlp({ sizes: [4, 8, 3], softmax: true, inputName: "features", outputName: "probs" }).bytes);
  await writeFile(path.join(dir, "other.onnx"), makeMlp({ sizes: [4, 3], seed: 2 }).bytes);
  await writeFile(path.join(dir, "notes.txt"), "not a model at all\n");
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("evoflow model (spawned CLI)", () => {
  it("registers, lists, shows, promotes and deletes", async () => {
    const reg = ["--registry", registryDir];
    const first = await evoflow(["model", "register", "small.onnx", "--name", "iris", "--label", "team=ml", "--label", "data=v1", "--metric", "accuracy=0.93", "--json", ...reg]);
    expect(first.stderr).toBe("");
    expect(first.code).toBe(0);
    const v1 = JSON.parse(first.stdout) as ModelVersion;
    expect(v1).toMatchObject({ name: "iris", version: 1, status: "candidate", labels: { team: "ml", data: "v1" }, metrics: { accuracy: 0.93 } });
    expect(v1.signature.inputs[0]).toMatchObject({ name: "features", dtype: "float32", shape: [-1, 4] });

    const second = await evoflow(["model", "register", "other.onnx", "--name", "iris", "--base", "1", ...reg]);
    expect(second.stdout).toMatch(/^registered iris@2 \(candidate, sha256 [0-9a-f]{12}\)\n$/);

    const list = await evoflow(["model", "list", "--json", ...reg]);
    expect((JSON.parse(list.stdout) as ModelSummary[]).map((m) => [m.name, m.versions, m.latest, m.champion])).toEqual([["iris", 2, 2, undefined]]);

    const promote = await evoflow(["model", "promote", "iris@2", "--reason", "better on new data", ...reg]);
    expect(promote.stdout).toBe("iris@2 is the champion\n");

    const show = await evoflow(["model", "show", "iris@champion", ...reg]);
    expect(show.code).toBe(0);
    expect(show.stdout).toMatch(/^iris@2 {2}champion$/m);
    expect(show.stdout).toMatch(/^inputs {6}input: float32\[batch, 4\]$/m);
    expect(show.stdout).toMatch(/^base {8}iris@1$/m);
    expect(show.stdout).toMatch(/champion {2}\(better on new data\)$/m);

    const table = await evoflow(["model", "show", "iris", ...reg]);
    expect(table.stdout.split("\n").slice(1, 3).map((l) => l.split(/\s+/).slice(0, 2))).toEqual([["1", "candidate"], ["2", "champion"]]);

    // The registry the CLI wrote is the one code reads.
    const registry = new FsModelRegistry(registryDir);
    expect((await registry.get("iris", "champion"))?.version).toBe(2);
    expect((await registry.get("iris", 2))?.lineage).toEqual({ baseVersion: 1 });
    await registry.close();

    const refused = await evoflow(["model", "delete", "iris@2", ...reg]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/iris@2 is the champion/);
    const deleted = await evoflow(["model", "delete", "iris@1", ...reg]);
    expect(deleted.stdout).toBe("deleted iris@1\n");
    const after = await evoflow(["model", "show", "iris", "--json", ...reg]);
    expect((JSON.parse(after.stdout) as ModelVersion[]).map((v) => v.version)).toEqual([2]);
  }, SPAWNS_TIMEOUT_MS);

  it("refuses a file that is not an ONNX model, with a clear error and nothing stored", async () => {
    const emptyDir = path.join(dir, "empty-registry");
    const bad = await evoflow(["model", "register", "notes.txt", "--name", "junk", "--registry", emptyDir]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^error: cannot register "junk": not a valid ONNX model: /);
    const list = await evoflow(["model", "list", "--registry", emptyDir]);
    expect(list.stdout).toBe("no models registered\n");
  }, SPAWNS_TIMEOUT_MS);

  it("uses EVOFLOW_REGISTRY and reports unknown models and bad references", async () => {
    const env = { EVOFLOW_REGISTRY: path.join(dir, "from-env") };
    expect((await evoflow(["model", "register", "small.onnx", "--name", "env-model"], env)).code).toBe(0);
    expect((await evoflow(["model", "list"], env)).stdout).toMatch(/^env-model\s+1\s+1\s+-/m);
    const missing = await evoflow(["model", "show", "nope@3"], env);
    expect(missing.stderr).toBe('error: no version 3 of model "nope"\n');
    const noVersion = await evoflow(["model", "promote", "env-model"], env);
    expect(noVersion.stderr).toBe("error: say which version: env-model@<version>\n");
    const badStatus = await evoflow(["model", "status", "env-model@1", "shipped"], env);
    expect(badStatus.stderr).toMatch(/unknown status "shipped"/);
    expect(badStatus.code).toBe(1);
  }, SPAWNS_TIMEOUT_MS);
});

describe("evoflow model on a NATS registry (real nats-server)", () => {
  it("registers, promotes and lists through --registry nats://… and EVOFLOW_REGISTRY_NATS", async () => {
    const server = await NatsServer.start();
    try {
      const reg = ["--registry", server.url];
      expect((await evoflow(["model", "register", "small.onnx", "--name", "shared", ...reg])).stdout).toMatch(/^registered shared@1 /);
      expect((await evoflow(["model", "register", "other.onnx", "--name", "shared"], { EVOFLOW_REGISTRY_NATS: server.url })).stdout).toMatch(/^registered shared@2 /);
      expect((await evoflow(["model", "promote", "shared@2", ...reg])).stdout).toBe("shared@2 is the champion\n");
      const list = JSON.parse((await evoflow(["model", "list", "--json"], { EVOFLOW_REGISTRY_NATS: server.url })).stdout) as ModelSummary[];
      expect(list.map((m) => [m.name, m.versions, m.champion])).toEqual([["shared", 2, 2]]);

      const registry = await NatsModelRegistry.connect({ servers: server.url });
      expect((await registry.get("shared", "champion"))?.signature.inputs[0].name).toBe("input");
      await registry.close();
    } finally {
      await server.dispose();
    }
    const down = await evoflow(["model", "list", "--registry", server.url]);
    expect(down.code).toBe(1);
    expect(down.stderr).toMatch(/^error: /);
  }, SPAWNS_TIMEOUT_MS);
});
