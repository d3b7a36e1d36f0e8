/**
 * Every example in pipelines/ must be canonical, valid and run. Examples with an
 * HTTP entry point are called; generator-driven ones run until their sources finish.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { formatPipeline } from "../runtime/canonical";
import { nodeTypes } from "../runtime/node-types";
import { Runtime } from "../runtime/runtime";
import { createServices } from "../runtime/services";
import { validatePipeline } from "../runtime/validate";

const dir = "pipelines";
/** Requests sent to the examples with an HTTP entry point, and what they must answer. */
const calls: Record<string, { entrypoint: string; request: unknown; response: unknown }[]> = {
  "hello-http.json": [{ entrypoint: "hello", request: { x: [1, 2, 3] }, response: { sum: 6, mean: 2, n: 3, pipeline: "hello" } }],
};
const examples = readdirSync(dir).filter((f) => f.endsWith(".json"));

describe.each(examples)("pipelines/%s", (file) => {
  const text = readFileSync(join(dir, file), "utf8");
  const json = JSON.parse(text);

  it("is canonical and valid", () => {
    expect(text).toBe(formatPipeline(json));
    expect(validatePipeline(json, nodeTypes).problems).toEqual([]);
  });

  it("deploys and runs without dead letters", async () => {
    const dataDir = `/tmp/evoflow-examples/${file}`;
    const runtime = new Runtime({ dataDir, services: await createServices({ dataDir }) });
    try {
      const running = await runtime.deploy(json);
      for (const example of calls[file] ?? []) {
        const [reply] = await running.entrypoints.get(example.entrypoint)!.invoke(example.request);
        expect(reply.payload).toEqual(example.response);
      }
      await running.idle();
      expect(running.deadLetters.toArray()).toEqual([]);
    } finally {
      await runtime.close();
    }
  });
});
