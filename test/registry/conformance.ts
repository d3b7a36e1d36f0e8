/**
 * The registry conformance suite: every backend runs it.
 *
 *   registryConformance("fs", async () => { const dir = ...; return { registry: new FsModelRegistry(dir), openAnother: async () => new FsModelRegistry(dir), dispose } });
 *
 * `setup` is called once per test and must give an empty registry. `openAnother`, when given,
 * opens a second client of the same storage (as another process would) for the sharing tests.
 */
import { createHash } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import { RegistryError, type ModelRegistry, type ModelProfile, type RegistryEvent } from "../../sdk/registry";
import { makeMlp } from "../fixtures/mlp";

export interface RegistryFixture {
  registry: ModelRegistry;
  openAnother?: () => Promise<ModelRegistry>;
  dispose?: () => Promise<void>;
}

/** A distinct small ONNX model per seed. */
function model(seed: number, sizes = [4, 6, 3]): Uint8Array {
  return makeMlp({ sizes, seed, softmax: true }).bytes;
}

async function rejectsWith(promise: Promise<unknown>, code: RegistryError["code"], message?: RegExp): Promise<RegistryError> {
  let error: unknown;
  try {
    await promise;
  } catch (err) {
    error = err;
  }
  expect(error, `expected a RegistryError "${code}"`).toBeInstanceOf(RegistryError);
  expect((error as RegistryError).code).toBe(code);
  if (message) expect((error as Error).message).toMatch(message);
  return error as RegistryError;
}

/** Resolves with the first event the predicate accepts; fails after `ms` (a bound on waiting, not a timing assertion). */
function nextEvent(registry: ModelRegistry, name: string, accept: (e: RegistryEvent) => boolean, ms = 10_000): Promise<RegistryEvent> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      stop();
      reject(new Error(`no matching registry event for "${name}" within ${ms} ms`));
    }, ms);
    const stop = registry.watch(name, (e) => {
      if (!accept(e)) return;
      clearTimeout(timer);
      stop();
      resolve(e);
    });
  });
}

const sampleProfile: ModelProfile = {
  runtime: "onnxruntime-node",
  executionProvider: "cpu",
  warmupBatches: 3,
  durationSeconds: 1,
  loadRssDeltaBytes: 1024,
  loadMs: 3.5,
  results: [{ batchSize: 4, batches: 100, throughput: 4000, latencyMs: { mean: 1, p50: 1, p95: 2, p99: 3, max: 4 }, memory: { rssDeltaBytes: 0, peakRssBytes: 1e8 }, cpu: { seconds: 0.2, utilisation: 0.8 } }],
  host: { platform: "linux", arch: "x64", cpus: 2, cpuModel: "test", node: "v20" },
  createdAt: new Date(0).toISOString(),
};

export function registryConformance(backend: string, setup: () => Promise<RegistryFixture>): void {
  describe(`model registry conformance: ${backend}`, () => {
    let fixture: RegistryFixture | undefined;
    const others: ModelRegistry[] = [];

    async function open(): Promise<ModelRegistry> {
      fixture = await setup();
      return fixture.registry;
    }

    afterEach(async () => {
      for (const other of others.splice(0)) await other.close();
      await fixture?.registry.close();
      await fixture?.dispose?.();
      fixture = undefined;
    });

    it("registers a version with its artifact, hash, size and the signature read from the file", async () => {
      const registry = await open();
      const bytes = makeMlp({ sizes: [5, 8, 3], softmax: true, inputName: "pixels", outputName: "probs" }).bytes;
      const v = await registry.register({
        name: "digits",
        artifact: bytes,
        labels: { team: "vision" },
        metrics: { accuracy: 0.91 },
        lineage: { baseVersion: 7, data: { stream: "labelled", ranges: [{ from: 1, to: 500 }, { from: 900, to: 1200 }] }, trainer: { epochs: 2, lr: 0.01 } },
      });
      expect(v).toMatchObject({ name: "digits", version: 1, status: "candidate", labels: { team: "vision" }, metrics: { accuracy: 0.91 } });
      expect(v.artifact).toEqual({ format: "onnx", sha256: createHash("sha256").update(bytes).digest("hex"), size: bytes.byteLength });
      expect(v.signature.inputs).toEqual([{ name: "pixels", kind: "tensor", dtype: "float32", shape: [-1, 5], dimNames: ["batch", null] }]);
      expect(v.signature.outputs).toEqual([{ name: "probs", kind: "tensor", dtype: "float32", shape: [-1, 3], dimNames: ["batch", null] }]);
      expect(v.lineage).toEqual({ baseVersion: 7, data: { stream: "labelled", ranges: [{ from: 1, to: 500 }, { from: 900, to: 1200 }] }, trainer: { epochs: 2, lr: 0.01 } });
      expect(v.history).toEqual([{ status: "candidate", at: v.createdAt }]);
      expect(Number.isNaN(Date.parse(v.createdAt))).toBe(false);

      expect(await registry.get("digits", 1)).toEqual(v);
      expect(await registry.get("digits")).toEqual(v);
      expect(Buffer.from(await registry.readArtifact("digits", 1)).equals(Buffer.from(bytes))).toBe(true);
    });

    it("numbers versions 1, 2, 3… per name and lists models", async () => {
      const registry = await open();
      for (let i = 1; i <= 3; i++) expect((await registry.register({ name: "a", artifact: model(i) })).version).toBe(i);
      expect((await registry.register({ name: "b", artifact: model(9) })).version).toBe(1);
      expect((await registry.versions("a")).map((v) => v.version)).toEqual([1, 2, 3]);
      expect((await registry.get("a", "latest"))?.version).toBe(3);
      const list = await registry.list();
      expect(list.map((m) => [m.name, m.versions, m.latest, m.champion])).toEqual([
        ["a", 3, 3, undefined],
        ["b", 1, 1, undefined],
      ]);
      expect(await registry.versions("missing")).toEqual([]);
    });

    it("refuses a file that is not an ONNX model with a clear error and stores nothing", async () => {
      const registry = await open();
      const bad = [new TextEncoder().encode("definitely not a model"), new Uint8Array(), model(1).subarray(0, 30)];
      for (const artifact of bad) {
        await rejectsWith(registry.register({ name: "broken", artifact }), "invalid", /cannot register "broken": not a valid ONNX model: /);
      }
      expect(await registry.list()).toEqual([]);
      expect(await registry.versions("broken")).toEqual([]);
      expect(await registry.get("broken")).toBeUndefined();
      // Nothing was claimed either: the first good file is version 1.
      expect((await registry.register({ name: "broken", artifact: model(1) })).version).toBe(1);
    });

    it("keeps sklearn and python artifacts as they are, with their format and given signature, only with allowExec", async () => {
      const registry = await open();
      // The registry does not read these formats (that would run them): any bytes are stored as given.
      const pickle = new TextEncoder().encode("\x80\x04 a pickle stand-in");
      await rejectsWith(registry.register({ name: "sk", format: "sklearn", artifact: pickle }), "invalid", /loading a sklearn model runs its code .*needs exec/);
      await rejectsWith(registry.register({ name: "sk", format: "python", artifact: pickle }), "invalid", /needs exec/);
      await rejectsWith(registry.register({ name: "sk", format: "pytorch" as never, artifact: pickle, allowExec: true }), "invalid", /unknown model format "pytorch"/);
      await rejectsWith(registry.register({ name: "sk", format: "sklearn", artifact: pickle, allowExec: true, signature: { inputs: [{ name: "x", dtype: "float32", shape: [-2] } as never], outputs: [] } }), "invalid", /signature\.inputs\[0\]/);
      expect(await registry.list()).toEqual([]);
      const v = await registry.register({ name: "sk", format: "sklearn", artifact: pickle, allowExec: true, signature: { inputs: [{ name: "x", kind: "tensor", dtype: "float32", shape: [-1, 4] }], outputs: [{ name: "label", kind: "tensor", dtype: "int64", shape: [-1] }] } });
      expect(v.artifact).toEqual({ format: "sklearn", sha256: createHash("sha256").update(pickle).digest("hex"), size: pickle.byteLength });
      expect(v.signature.inputs).toEqual([{ name: "x", kind: "tensor", dtype: "float32", shape: [-1, 4] }]);
      expect((await registry.get("sk", 1))?.artifact.format).toBe("sklearn");
      expect(Buffer.from(await registry.readArtifact("sk", 1)).equals(Buffer.from(pickle))).toBe(true);
      // No signature given: empty, for the agent to read from the model.
      expect((await registry.register({ name: "sk", format: "python", artifact: pickle, allowExec: true })).signature.inputs).toEqual([]);
      // An ONNX model's signature is its file's.
      await rejectsWith(registry.register({ name: "sk", artifact: model(1), signature: { inputs: [], outputs: [] } }), "invalid", /read from its file/);
    });

    it("refuses invalid names, metrics, lineage and statuses", async () => {
      const registry = await open();
      for (const name of ["", "a b", "../escape", "x@1", "-lead", "a/b"]) {
        await rejectsWith(registry.register({ name, artifact: model(1) }), "invalid", /invalid model name/);
      }
      await rejectsWith(registry.register({ name: "m", artifact: model(1), metrics: { acc: "high" as unknown as number } }), "invalid", /metric "acc"/);
      await rejectsWith(registry.register({ name: "m", artifact: model(1), lineage: { baseVersion: 0 } }), "invalid", /lineage.baseVersion/);
      await rejectsWith(registry.register({ name: "m", artifact: model(1), lineage: { data: { stream: "s", ranges: [{ from: 9, to: 2 }] } } }), "invalid", /lineage.data.ranges\[0\]/);
      expect(await registry.list()).toEqual([]);
      await registry.register({ name: "m", artifact: model(1), lineage: { data: { snapshot: "snap-2026-11-22" } } });
      expect((await registry.get("m", 1))?.lineage).toEqual({ data: { snapshot: "snap-2026-11-22" } });
      await rejectsWith(registry.setStatus("m", 1, "deployed" as never), "invalid", /unknown status "deployed"/);
      await rejectsWith(registry.putMetrics("m", 1, { loss: null as unknown as number }), "invalid", /metric "loss"/);
    });

    it("promotes: one champion at a time, the previous one retired, with reasons in the history", async () => {
      const registry = await open();
      for (let i = 1; i <= 3; i++) await registry.register({ name: "m", artifact: model(i) });
      expect(await registry.get("m", "champion")).toBeUndefined();

      const first = await registry.promote("m", 1, "first model");
      expect(first.status).toBe("champion");
      expect(first.history.map((h) => [h.status, h.reason])).toEqual([["candidate", undefined], ["champion", "first model"]]);

      await registry.promote("m", 3, "better accuracy");
      expect((await registry.get("m", "champion"))?.version).toBe(3);
      const statuses = (await registry.versions("m")).map((v) => v.status);
      expect(statuses).toEqual(["retired", "candidate", "champion"]);
      const retired = await registry.get("m", 1);
      expect(retired?.history.at(-1)).toMatchObject({ status: "retired", reason: "replaced by version 3" });
      expect((await registry.list())[0].champion).toBe(3);

      // Promoting the champion again changes nothing.
      await registry.promote("m", 3);
      expect((await registry.versions("m")).filter((v) => v.status === "champion").map((v) => v.version)).toEqual([3]);
    });

    it("reports changes to watchers: registered, status, champion with the previous one, deleted", async () => {
      const registry = await open();
      const events: RegistryEvent[] = [];
      const all: RegistryEvent[] = [];
      const stop = registry.watch("m", (e) => events.push(e));
      registry.watch("*", (e) => all.push(e));
      await registry.register({ name: "m", artifact: model(1) });
      await registry.register({ name: "m", artifact: model(2) });
      await registry.register({ name: "other", artifact: model(3) });
      await registry.promote("m", 1);
      await registry.promote("m", 2);
      await registry.setStatus("m", 1, "rejected", "poisoned data");
      await registry.delete("m", 1);

      const champions = events.filter((e) => e.type === "champion");
      expect(champions).toEqual([
        { type: "champion", name: "m", version: 1 },
        { type: "champion", name: "m", version: 2, previous: 1 },
      ]);
      expect(events.filter((e) => e.type === "registered").map((e) => e.version)).toEqual([1, 2]);
      expect(events).toContainEqual({ type: "status", name: "m", version: 1, status: "retired", previous: "champion", reason: "replaced by version 2" });
      expect(events).toContainEqual({ type: "status", name: "m", version: 1, status: "rejected", previous: "retired", reason: "poisoned data" });
      expect(events.at(-1)).toEqual({ type: "deleted", name: "m", version: 1 });
      expect(events.some((e) => e.name !== "m")).toBe(false);
      expect(all).toContainEqual({ type: "registered", name: "other", version: 1 });

      stop();
      await registry.promote("m", 2);
      await registry.register({ name: "m", artifact: model(4) });
      expect(events.at(-1)).toEqual({ type: "deleted", name: "m", version: 1 });
    });

    it("reports each promotion as its status events, then the champion event", async () => {
      const registry = await open();
      for (let i = 1; i <= 3; i++) await registry.register({ name: "m", artifact: model(i) });
      const events: RegistryEvent[] = [];
      registry.watch("m", (e) => events.push(e));
      const order = [1, 2, 3, 1, 3, 2, 1, 2, 3, 2];
      for (const v of order) await registry.promote("m", v);
      const expected: RegistryEvent[] = [];
      order.forEach((v, i) => {
        const previous = order[i - 1];
        if (previous !== undefined) expected.push({ type: "status", name: "m", version: previous, status: "retired", previous: "champion", reason: `replaced by version ${v}` });
        expected.push({ type: "status", name: "m", version: v, status: "champion", previous: i < 3 ? "candidate" : "retired" });
        expected.push({ type: "champion", name: "m", version: v, ...(previous !== undefined ? { previous } : {}) });
      });
      expect(events).toEqual(expected);
    });

    it("sets statuses: rejected keeps the version, champion means promote, demoting leaves no champion", async () => {
      const registry = await open();
      await registry.register({ name: "m", artifact: model(1) });
      await registry.register({ name: "m", artifact: model(2) });
      const rejected = await registry.setStatus("m", 2, "rejected", "accuracy on class 3 fell from 0.9 to 0.4");
      expect(rejected.status).toBe("rejected");
      expect(rejected.history.at(-1)).toMatchObject({ status: "rejected", reason: "accuracy on class 3 fell from 0.9 to 0.4" });
      expect(Buffer.from(await registry.readArtifact("m", 2)).equals(Buffer.from(model(2)))).toBe(true);

      await registry.setStatus("m", 1, "champion");
      expect((await registry.get("m", "champion"))?.version).toBe(1);
      await registry.setStatus("m", 1, "retired", "withdrawn");
      expect(await registry.get("m", "champion")).toBeUndefined();
    });

    it("deletes a version and its artifact; numbers are never reused; the champion needs force", async () => {
      const registry = await open();
      await registry.register({ name: "m", artifact: model(1) });
      await registry.register({ name: "m", artifact: model(2) });
      await registry.delete("m", 2);
      expect(await registry.get("m", 2)).toBeUndefined();
      await rejectsWith(registry.readArtifact("m", 2), "not_found");
      expect((await registry.register({ name: "m", artifact: model(3) })).version).toBe(3);
      expect((await registry.versions("m")).map((v) => v.version)).toEqual([1, 3]);

      await registry.promote("m", 3);
      await rejectsWith(registry.delete("m", 3), "conflict", /champion/);
      expect((await registry.get("m", "champion"))?.version).toBe(3);
      await registry.delete("m", 3, { force: true });
      expect(await registry.get("m", "champion")).toBeUndefined();

      await registry.delete("m", 1);
      expect(await registry.list()).toEqual([]);
      expect((await registry.register({ name: "m", artifact: model(4) })).version).toBe(4);
    });

    it("stores metrics (merged), profile, validation report and labels (merged, null removes)", async () => {
      const registry = await open();
      await registry.register({ name: "m", artifact: model(1), metrics: { accuracy: 0.8 }, labels: { owner: "ana", stage: "dev" } });
      await registry.putMetrics("m", 1, { accuracy: 0.85, f1: 0.8 });
      await registry.putProfile("m", 1, sampleProfile);
      await registry.putValidation("m", 1, { passed: false, reasons: ["p99 latency 12 ms over the 10 ms budget"], checks: { p99Ms: 12 } });
      await registry.setLabels("m", 1, { stage: "prod", owner: null, region: "eu" });
      const v = await registry.get("m", 1);
      expect(v?.metrics).toEqual({ accuracy: 0.85, f1: 0.8 });
      expect(v?.profile).toEqual(sampleProfile);
      expect(v?.validation).toMatchObject({ passed: false, reasons: ["p99 latency 12 ms over the 10 ms budget"], checks: { p99Ms: 12 } });
      expect(v?.labels).toEqual({ stage: "prod", region: "eu" });
      expect(Date.parse(v!.updatedAt)).toBeGreaterThanOrEqual(Date.parse(v!.createdAt));
      await rejectsWith(registry.putValidation("m", 1, { reasons: [] } as never), "invalid");
    });

    it("answers not_found for unknown models and versions", async () => {
      const registry = await open();
      await registry.register({ name: "m", artifact: model(1) });
      expect(await registry.get("nope")).toBeUndefined();
      expect(await registry.get("m", 5)).toBeUndefined();
      await rejectsWith(registry.readArtifact("m", 5), "not_found", /no version 5 of model "m"/);
      await rejectsWith(registry.promote("nope", 1), "not_found");
      await rejectsWith(registry.setStatus("m", 9, "rejected"), "not_found");
      await rejectsWith(registry.delete("m", 9), "not_found");
      await rejectsWith(registry.putMetrics("m", 9, { a: 1 }), "not_found");
      await rejectsWith(registry.putProfile("m", 9, sampleProfile), "not_found");
      await rejectsWith(registry.putValidation("m", 9, { passed: true, reasons: [] }), "not_found");
      await rejectsWith(registry.setLabels("m", 9, { a: "b" }), "not_found");
    });

    it("gives concurrent registrations distinct versions, each with its own artifact", async () => {
      const registry = await open();
      const artifacts = Array.from({ length: 8 }, (_, i) => model(100 + i));
      const registered = await Promise.all(artifacts.map((artifact) => registry.register({ name: "busy", artifact })));
      expect(registered.map((v) => v.version).sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
      for (const [i, v] of registered.entries()) {
        expect(Buffer.from(await registry.readArtifact("busy", v.version)).equals(Buffer.from(artifacts[i]))).toBe(true);
      }
      await Promise.all(registered.map((v) => registry.promote("busy", v.version)));
      expect((await registry.versions("busy")).filter((v) => v.status === "champion")).toHaveLength(1);
    });

    it("shares state between clients of the same storage, champion changes included", async (ctx) => {
      const registry = await open();
      if (!fixture?.openAnother) ctx.skip("this backend gives no second client");
      const other = await fixture!.openAnother!();
      others.push(other);
      await registry.register({ name: "shared", artifact: model(1) });
      await registry.register({ name: "shared", artifact: model(2) });
      expect((await other.versions("shared")).map((v) => v.version)).toEqual([1, 2]);

      const seen = nextEvent(other, "shared", (e) => e.type === "champion" && e.version === 2);
      await registry.promote("shared", 2);
      expect(await seen).toMatchObject({ type: "champion", name: "shared", version: 2 });

      const back = nextEvent(registry, "shared", (e) => e.type === "champion" && e.version === 1);
      await other.promote("shared", 1);
      expect(await back).toEqual({ type: "champion", name: "shared", version: 1, previous: 2 });
      expect((await registry.get("shared", "champion"))?.version).toBe(1);
      expect((await registry.register({ name: "shared", artifact: model(3) })).version).toBe(3);
    });
  });
}
