/**
 * The differential harness (differential.ts) on a fixed set of @node-red/nodes examples that
 * pass, so CI notices when Evoflow's import or hosting stops answering as real Node-RED 4
 * does; scripts/node-red-differential.ts runs it on them all (docs/node-red-differential.md).
 * Plus the change → template → csv chain of hosted.test.ts, run in both.
 */
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { FlowNode } from "../../runtime/node-red-import/flows";
import { Runtime } from "../../runtime/runtime";
import { ROOT, startNodeRed, type NodeRed } from "../integrations/node-red";
import { differential, skipReason } from "./differential";

const EXAMPLES = join(ROOT, "node_modules/@node-red/nodes/examples");
/** One or two of each kind of node the import carries natively or hosts. */
const PASSING = [
  "common/link/01 - Link within a tab",
  "function/change/03 - Set value using JSONata",
  "function/switch/01 - Select output port",
  "function/function/02 - Send multiple messages",
  "function/range/01 - Scale input value",
  "function/change/01 - Set payload value",
  "parser/json/01 - Convert JSON string to JavaScript object",
  "parser/csv/07 - Convert array of JavaScript objects to CSV with column name header",
  "function/delay/01 - Delay message",
  // Node-RED's split deletes msg._msgid: the hosted node must still see its done, or the pipeline never drains.
  "sequence/split/01 - Split message payload",
];

let red: NodeRed;
let runtime: Runtime;
let work: string;
let runs = 0;
const run = (flow: FlowNode[]) => {
  const dir = join(work, `run-${++runs}`);
  mkdirSync(dir);
  return differential(flow, `diff-${runs}`, red, runtime, dir);
};

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "node-red-differential-test-"));
  writeFileSync(join(work, "package.json"), JSON.stringify({ name: "node-red-project", version: "0.0.1", private: true }));
  red = await startNodeRed(work);
  runtime = new Runtime({ dataDir: join(work, "evoflow-data"), grants: ["exec", "fs-write"] });
}, 60_000);

afterAll(async () => {
  await runtime?.close();
  await red?.stop();
});

describe("Node-RED examples give the same debug output in real Node-RED and imported into Evoflow", () => {
  for (const example of PASSING)
    it(example, async () => {
      const flow = JSON.parse(readFileSync(join(EXAMPLES, `${example}.json`), "utf8")) as FlowNode[];
      const outcome = await run(flow);
      expect(outcome, JSON.stringify(outcome)).toMatchObject({ status: "pass" });
      expect((outcome as { messages: number }).messages).toBeGreaterThan(0);
    }, 60_000);

  it("skips the examples that need outside hosts or files, naming why", () => {
    const example = (name: string) => JSON.parse(readFileSync(join(EXAMPLES, `${name}.json`), "utf8")) as FlowNode[];
    expect(skipReason(example("network/http/01 - Create HTTP endpoint"))).toContain("http request requests http://localhost:1880");
    expect(skipReason(example("function/exec/01 - Get standard output from external command"))).toContain("exec runs a shell command");
    expect(skipReason(example("function/function/07 - Showing status information"))).toBe("no debug node: nothing to compare");
    expect(skipReason(example("function/change/01 - Set payload value"))).toBeUndefined();
  });

  it("reports a difference: flow context set by one change node is not seen by the next", async () => {
    const outcome = await run(JSON.parse(readFileSync(join(EXAMPLES, "function/change/05 - Set flow context.json"), "utf8")));
    expect(outcome).toMatchObject({ status: "fail", reason: expect.stringMatching(/Node-RED 1 message\(s\), Evoflow 1; #1: Node-RED 1, Evoflow null/) });
  }, 60_000);

  it("runs hosted.test.ts's change → template → csv chain to the same object in both", async () => {
    const z = "chain";
    const flow: FlowNode[] = [
      { id: "go", type: "inject", z, props: [{ p: "payload" }], payload: '{"a":2,"b":40}', payloadType: "json", repeat: "", crontab: "", once: false, topic: "", wires: [["change"]] },
      { id: "change", type: "change", z, rules: [{ t: "set", p: "payload.total", pt: "msg", to: "payload.a + payload.b", tot: "jsonata" }, { t: "delete", p: "payload.b", pt: "msg" }], wires: [["template"]] },
      { id: "template", type: "template", z, field: "payload", fieldType: "msg", template: "{{payload.a}},{{payload.total}}\n", output: "str", syntax: "mustache", format: "handlebars", wires: [["csv"]] },
      { id: "csv", type: "csv", z, temp: "a,total", sep: ",", hdrin: false, hdrout: "none", ret: "\\n", multi: "one", skip: "0", strings: true, wires: [["out"]] },
      { id: "out", type: "debug", z, active: true, complete: "payload", wires: [] },
    ];
    expect(await run(flow)).toEqual({ status: "pass", reason: "1 message(s) equal", messages: 1, fromNodeRed: { out: [{ a: 2, total: 42 }] } });
  }, 60_000);
});
