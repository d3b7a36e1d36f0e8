/**
 * Runaway transform.function code through real deployed pipelines behind the real HTTP API:
 * each ends with 422 and a dead letter naming its limit while a neighbour pipeline (itself a
 * transform.function) keeps answering, and the process serves on.
 */
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { allNodes } from "../../nodes";
import { createApi } from "../../runtime/api/server";
import { NodeTypes } from "../../runtime/node-types";
import { Runtime } from "../../runtime/runtime";
import { tempDir } from "../agent/helpers";

let runtime: Runtime;
let app: FastifyInstance;
let url: string;

const pipeline = (name: string, config: Record<string, unknown>) => ({
  apiVersion: "evoflow/v1",
  name,
  nodes: [{ id: "h", type: "io.http" }, { id: "t", type: "transform.function", config }],
  edges: [{ from: "h.out", to: "t.in" }],
});

beforeAll(async () => {
  runtime = new Runtime({ nodeTypes: new NodeTypes(allNodes), dataDir: tempDir("function-limits") });
  app = await createApi({ runtime });
  url = await app.listen({ port: 0, host: "127.0.0.1" });
  await runtime.deploy(pipeline("neighbour", { code: "return { double: payload.n * 2 };" }));
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

async function neighbourAnswers(): Promise<number> {
  expect(await post("neighbour", { n: 21 })).toEqual({ status: 200, body: { double: 42 } });
  return performance.now();
}

// The memory bomb's time limit is wide: on a loaded machine filling 128 MB took longer than 1 s, and the time limit tripped first.
const RUNAWAYS: { name: string; code: string; reason: RegExp; timeoutMs?: number }[] = [
  { name: "endless-loop", code: "while (true) {}", reason: /JavaScript function exceeded its time limit of 1,000 ms/ },
  { name: "never-settles", code: "await new Promise(() => {});", reason: /time limit of 1,000 ms/ },
  { name: "memory-bomb", code: "const a = []; while (true) a.push(new Array(1e6).fill(1));", reason: /memory limit of \d+ MB/, timeoutMs: 5_000 },
];

describe("runaway transform.function", () => {
  for (const { name, code, reason, timeoutMs } of RUNAWAYS)
    it(`${name}: 422 and a dead letter naming the limit; the neighbour answers meanwhile`, async () => {
      await runtime.deploy(pipeline(`runaway-${name}`, { code, ...(timeoutMs && { timeoutMs }) }));
      const started = performance.now();
      const runaway = post(`runaway-${name}`, { n: 1 }).then((r) => ({ ...r, at: performance.now() }));
      const neighbourAt = await neighbourAnswers();
      const { status, body, at } = await runaway;
      expect(status).toBe(422);
      expect(body?.error).toMatch(reason);
      expect(body?.node).toBe("t");
      // Ended within its limit (1 s) and the slack of a machine shared with other tests.
      expect(at - started).toBeLessThan(6_000);
      expect(neighbourAt).toBeLessThan(at);
      const letters = await deadLetters(`runaway-${name}`);
      expect(letters).toHaveLength(1);
      expect(letters[0].reason).toMatch(reason);
      // The process lives on and serves, the runaway's node too.
      await neighbourAnswers();
      await runtime.undeploy(`runaway-${name}`);
    });
});
