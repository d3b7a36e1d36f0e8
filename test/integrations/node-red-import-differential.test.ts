/**
 * Issue 21 point 4's differential idea on three flows, http in → change → http response,
 * http in → switch → a change per output → one change they all feed → http response, and a
 * switch and a change by JSONata: they run in a real Node-RED 4, and the pipelines
 * `evoflow import` made of them in a real `evoflow run`; the same requests get the same answers
 * (status and JSON body) from both, except where the import report says they differ.
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { evoflow, evoflowOnce, type CliProcess } from "../nats/cli";
import { startNodeRed, type NodeRed } from "./node-red";

const FLOW = join(import.meta.dirname, "node-red-flows/http-flows.json");
const TOKEN = "node-red-import-differential-token";

async function post(url: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: unknown }> {
  const res = await fetch(url, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) });
  return { status: res.status, body: await res.json() };
}

describe("imported http flows answer as Node-RED does", () => {
  let red: NodeRed;
  let runtime: CliProcess;
  let runtimeUrl: string;
  let importOutput: string;

  beforeAll(async () => {
    const work = mkdtempSync(join(tmpdir(), "node-red-import-diff-"));
    writeFileSync(join(work, "package.json"), JSON.stringify({ name: "node-red-project", version: "0.0.1", private: true }));
    red = await startNodeRed(work);
    await red.deploy(JSON.parse(readFileSync(FLOW, "utf8")));
    const imported = await evoflowOnce(["import", FLOW, "--out", join(work, "pipelines")]);
    importOutput = imported.stdout + imported.stderr;
    expect(imported.code, importOutput).toBe(0);
    runtime = evoflow(["run", join(work, "pipelines/greeter.json"), join(work, "pipelines/router.json"), join(work, "pipelines/shout.json"), "--port", "0", "--data", join(work, "data"), "--token", TOKEN]);
    runtimeUrl = (await runtime.waitFor(/evoflow listening on (http:\/\/[^/\s]+)/))[1];
  }, 120_000);

  afterAll(async () => {
    await runtime?.kill("SIGTERM");
    await red?.stop();
  });

  const both = async (path: string, body: unknown) => ({
    red: await post(`${red.url}/${path}`, body),
    evoflow: await post(`${runtimeUrl}/pipelines/${path}`, body, { authorization: `Bearer ${TOKEN}` }),
  });

  it("routes by a switch's rules as Node-RED does", async () => {
    expect(importOutput).toContain('switch "by level" (by) → control.switch by-level');
    expect(importOutput).toContain("router.json (validates)");
    expect(importOutput).toContain("fed by 3 branches of the request path: copied for each (stamp-2, stamp-3)");
    for (const level of [7, 5, 4.5, 4, 2.5, 1, 0, -2, null, undefined]) {
      const { red: fromRed, evoflow: fromEvoflow } = await both("route", { level, id: 1 });
      expect(fromRed.status).toBe(200);
      expect(fromEvoflow, String(level)).toEqual(fromRed);
    }
    expect((await both("route", { level: 3 })).red.body).toEqual({ level: 3, band: "mid", seen: true });
    // The difference the report names: Node-RED's >= coerces the string "7"; the import compares types strictly.
    expect(importOutput).toContain("tests compare types strictly");
    const coerced = await both("route", { level: "7" });
    expect([coerced.red.body, coerced.evoflow.body]).toEqual([{ level: "7", band: "high", seen: true }, { level: "7", band: "low", seen: true }]);
  });

  it("evaluates JSONata switch rules and change values on the payload as Node-RED does on msg", async () => {
    expect(importOutput).toContain('change "loud" (loud) → transform.jsonata loud: its JSONata reads the payload');
    expect(importOutput).toContain("shout.json (validates)");
    for (const body of [{ name: "ada", tags: ["a", "b"] }, { name: "bob", tags: ["a"] }, { name: "cy" }, { name: "dee", tags: ["x", "y", "z"], more: 1 }]) {
      const answers = await both("shout", body);
      expect(answers.red.status).toBe(200);
      expect(answers.evoflow, JSON.stringify(body)).toEqual(answers.red);
    }
    expect((await both("shout", { name: "ada", tags: ["a", "b"] })).red.body).toEqual({ shout: "ADA", tags: 2 });
  });

  it("imports the flow natively and gives the same answers for the same requests", async () => {
    expect(importOutput).toContain('change "add greeting" (set) → transform.set add-greeting');
    expect(importOutput).toContain("greeter.json (validates)");
    const requests: unknown[] = [
      {},
      { name: "ada" },
      { name: "bob", greeting: "overwritten", meta: { version: 1, kept: "yes" } },
      { tags: null, nested: { deep: [1, 2, { x: 3 }] } },
    ];
    for (const body of requests) {
      const fromRed = await post(`${red.url}/greet`, body);
      const fromEvoflow = await post(`${runtimeUrl}/pipelines/greet`, body, { authorization: `Bearer ${TOKEN}` });
      expect(fromRed.status, JSON.stringify(body)).toBe(200);
      expect(fromEvoflow, JSON.stringify(body)).toEqual(fromRed);
    }
    // The differences, each named in the report: no object where a dotted path needs one.
    expect(importOutput).toContain("Node-RED skips that rule; transform.set replaces the field by an object");
    for (const meta of ["a string", null]) {
      expect((await post(`${red.url}/greet`, { meta })).body).toEqual({ meta, greeting: "hello", tags: ["a", "b"] });
      expect((await post(`${runtimeUrl}/pipelines/greet`, { meta }, { authorization: `Bearer ${TOKEN}` })).body).toEqual({ meta: { version: 2, ok: true }, greeting: "hello", tags: ["a", "b"] });
    }
    expect(importOutput).toContain("a payload that is not an object (Node-RED skips the rules) goes to the dead letters");
    // (Node-RED's JSON body parser takes objects and arrays only; fields set on an array do not show in its JSON.)
    expect(await post(`${red.url}/greet`, [1, 2])).toEqual({ status: 200, body: [1, 2] });
    expect((await post(`${runtimeUrl}/pipelines/greet`, [1, 2], { authorization: `Bearer ${TOKEN}` })).status).toBe(422);
    expect(await post(`${red.url}/greet`, { name: "ada" })).toEqual({ status: 200, body: { name: "ada", greeting: "hello", meta: { version: 2, ok: true }, tags: ["a", "b"] } });
  });
});
