/**
 * Every example in pipelines/ must be canonical, valid and run. Examples with an
 * HTTP entry point are called; generator-driven ones run until their sources finish; those that
 * need brokers and databases run in their own tests, which start them.
 */
import { readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { formatPipeline } from "../runtime/canonical";
import { nodeTypes } from "../runtime/node-types";
import { Runtime } from "../runtime/runtime";
import { createServices } from "../runtime/services";
import { validatePipeline } from "../runtime/validate";
import type { RunningPipeline } from "../runtime/engine/engine";

/** Resolves once every generator of the pipeline has emitted its whole stream. */
async function sourcesDone(running: RunningPipeline): Promise<void> {
  const generators = () => Object.values(running.status().nodes).filter((n) => n.type === "io.generator");
  while (!generators().every((n) => n.done)) await new Promise((r) => setTimeout(r, 20));
}

const dir = "pipelines";
/** What each example must do once its sources are done, beyond running without dead letters. */
const outcomes: Record<string, (running: RunningPipeline) => void> = {
  "drift-monitor.json": (running) => {
    // The mean shifts at message 600: both detectors must see it, and not before.
    const events = running.taps.read("ph_drift-events_in").messages.concat(running.taps.read("ks_drift-events_in").messages);
    const detectors = new Set(events.map((m) => (m.payload as { detector: string }).detector));
    expect(detectors.size).toBe(2);
    for (const event of events) {
      const cause = running.traces.messages(event.traceId).find((m) => m.source.node === "stream")!;
      expect((cause.payload as { i: number }).i).toBeGreaterThanOrEqual(600);
    }
  },
};

/** Requests sent to the examples with an HTTP entry point, and what they must answer. */
const calls: Record<string, { entrypoint: string; request: unknown; response: unknown }[]> = {
  "hello-http.json": [{ entrypoint: "hello", request: { x: [1, 2, 3] }, response: { sum: 6, mean: 2, n: 3, pipeline: "hello" } }],
};
/** Examples that need servers of their own: the test named runs them against real ones. */
const runElsewhere: Record<string, string> = {
  "fashion-mnist-sklearn.json": "test/cl/sklearn-example.test.ts (exec granted, python3 with sklearn)",
  "sensor-scoring.json": "test/connectors/sensor-scoring.test.ts (mosquitto, PostgreSQL, Redis)",
};
const examples = readdirSync(dir).filter((f) => f.endsWith(".json") && !f.endsWith(".test.json")) // <name>.test.json: its tests (evoflow test);

describe.each(examples)("pipelines/%s", (file) => {
  const text = readFileSync(join(dir, file), "utf8");
  const json = JSON.parse(text);

  it("is canonical and valid", () => {
    expect(text).toBe(formatPipeline(json));
    expect(validatePipeline(json, nodeTypes).problems).toEqual([]);
  });

  it.skipIf(file in runElsewhere)(`deploys and runs without dead letters${runElsewhere[file] ? `: in ${runElsewhere[file]}` : ""}`, async () => {
    const dataDir = join(tmpdir(), "evoflow-examples", file);
    const runtime = new Runtime({ dataDir, services: await createServices({ dataDir }) });
    try {
      const running = await runtime.deploy(json);
      for (const example of calls[file] ?? []) {
        const [reply] = await running.entrypoints.get(example.entrypoint)!.invoke(example.request);
        expect(reply.payload).toEqual(example.response);
      }
      await sourcesDone(running);
      await running.idle();
      expect(running.deadLetters.toArray()).toEqual([]);
      outcomes[file]?.(running);
    } finally {
      await runtime.close();
    }
  });
});
