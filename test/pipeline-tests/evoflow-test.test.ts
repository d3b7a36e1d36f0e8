/**
 * `evoflow test` as users run it: the real CLI on real test files in a temp folder, on the
 * in-process runtime and on a real nats-server child; the JUnit XML it writes parsed back.
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { parseStringPromise } from "xml2js";
import { evoflow } from "../nats/cli";
import { NatsServer } from "../nats/server";

/** io.http → transform.jsonata (fails if it really runs) → transform.set. */
const pipeline = {
  apiVersion: "evoflow/v1",
  name: "scoring",
  nodes: [
    { id: "request", type: "io.http" },
    { id: "model", type: "transform.jsonata", config: { expression: '$error("the real model ran")' } },
    { id: "stats", type: "transform.jsonata", config: { expression: '{ "sum": $sum(x) }' } },
    { id: "tag", type: "transform.set", config: { set: { tagged: true } } },
  ],
  edges: [
    { from: "request.out", to: "model.in", mode: "sync" },
    { from: "model.out", to: "tag.in", mode: "sync" },
    { from: "request.out", to: "stats.in", mode: "async" },
  ],
};

const fixtures = { model: { answer: { label: 3 } } };
const passing = { name: "the fixed answer is tagged", inputs: [{ node: "request", payloads: [{ x: [1, 2] }] }], fixtures, expect: [{ at: "tag.out", payloads: [{ label: 3, tagged: true }] }] };
const failing = { name: "a wrong sum", inputs: [{ node: "request", payloads: [{ x: [1, 2] }] }], fixtures, expect: [{ at: "stats.out", payloads: [{ sum: 7 }] }] };

function folder(files: Record<string, unknown>): string {
  const dir = mkdtempSync(join(tmpdir(), "evoflow-pipeline-tests-"));
  writeFileSync(join(dir, "scoring.json"), JSON.stringify(pipeline));
  for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), typeof content === "string" ? content : JSON.stringify(content));
  return dir;
}

async function run(args: string[]): Promise<{ code: number | null; output: string }> {
  const cli = evoflow(["test", ...args]);
  const code = await new Promise<number | null>((resolve) => cli.child.once("exit", resolve));
  return { code, output: cli.output };
}

describe("evoflow test", () => {
  it("leaves the test files a glob gives validate and fmt to evoflow test, saying so", async () => {
    const dir = folder({ "scoring.test.json": { cases: [passing] } });
    const test = readFileSync(join(dir, "scoring.test.json"), "utf8");
    for (const command of [["validate"], ["fmt", "--check"]]) {
      const cli = evoflow([...command, join(dir, "scoring.json"), join(dir, "scoring.test.json")]);
      const code = await new Promise<number | null>((resolve) => cli.child.once("exit", resolve));
      expect(cli.output).toContain("scoring.test.json: pipeline test files (evoflow test runs them)");
      expect(code, cli.output).toBe(command[0] === "fmt" ? 1 : 0); // scoring.json is not canonical; the test file is not judged
      expect(cli.output).not.toContain("scoring.test.json: not canonical");
    }
    expect(readFileSync(join(dir, "scoring.test.json"), "utf8")).toBe(test);
  });

  it("passes a case whose fixture replaces the node, and the same case without it sees the real node's dead letter", async () => {
    const dir = folder({
      "scoring.test.json": {
        cases: [
          passing,
          { name: "no fixture", inputs: passing.inputs, expect: [{ at: "tag.out", nothing: true }, { deadLetters: { node: "model", reason: "the real model ran" } }] },
        ],
      },
    });
    const { code, output } = await run([join(dir, "scoring.json")]);
    expect(output).toMatch(/ok {4}the fixed answer is tagged/);
    expect(output).toMatch(/ok {4}no fixture/);
    expect(output).toContain("2 passed, 0 failed");
    expect(code).toBe(0);
  });

  it("fails a wrong expectation with exit 1 and a diff of expected against actual", async () => {
    const dir = folder({ "scoring.test.json": { cases: [failing, { ...passing, expect: [{ at: "tag.out", count: 2 }, { deadLetters: { count: 1 } }] }] } });
    const { code, output } = await run([dir]);
    expect(code).toBe(1);
    expect(output).toMatch(/FAIL {2}a wrong sum/);
    expect(output).toContain('-     "sum": 7');
    expect(output).toContain('+     "sum": 3');
    expect(output).toContain("tag.out: expected 2 messages, saw 1");
    expect(output).toContain("dead letters: expected 1, saw 0");
    expect(output).toContain("0 passed, 2 failed");
  });

  it("judges JSONata predicates, tolerance and any order", async () => {
    const inputs = [{ node: "request", payloads: [{ x: [0.1, 0.2] }, { x: [1] }] }];
    const dir = folder({
      "scoring.test.json": {
        cases: [
          { name: "good", inputs, fixtures, expect: [{ at: "stats.out", payloads: [{ sum: 1 }, { sum: 0.3 }], order: "any", tolerance: 1e-9 }, { at: "stats.out", every: "sum > 0", some: "sum = 1" }] },
          { name: "bad", inputs, fixtures, expect: [{ at: "stats.out", payloads: [{ sum: 0.3 }, { sum: 1 }] }, { at: "stats.out", every: "sum > 0.5" }] },
        ],
      },
    });
    const { code, output } = await run([dir]);
    expect(output).toMatch(/ok {4}good/);
    // Without a tolerance 0.1 + 0.2 is not 0.3: the diff shows the float as it came.
    expect(output).toContain('+     "sum": 0.30000000000000004');
    expect(output).toContain("stats.out: payload 0 does not satisfy sum > 0.5");
    expect(code).toBe(1);
  });

  it("refuses an invalid test file with every problem at its JSON path, and a JSONL input outside the folder", async () => {
    const dir = folder({
      "scoring.test.json": { cases: [{ name: "x", inputs: [{ node: "request" }], expect: [{ at: "tag.out.more", count: 1 }, { at: "tag.out" }] }] },
      "escape.test.json": { pipeline: "scoring.json", cases: [{ name: "y", inputs: [{ node: "request", file: "../outside.jsonl" }], expect: [{ at: "tag.out", count: 1 }] }] },
    });
    const { code, output } = await run([dir]);
    expect(code).toBe(1);
    expect(output).toContain('$.cases[0].inputs[0]: give either "payloads" or "file"');
    expect(output).toContain('$.cases[0].expect[0].at: must be an output port "node.port" or an edge id');
    expect(output).toContain('$.cases[0].expect[1]: expects nothing: give payloads, count, nothing, every or some');
    expect(output).toMatch(/escape\.test\.json: \$\.cases\[0\]\.inputs\[0\]\.file: .*\.\.\/outside\.jsonl/);
  });

  it("writes JUnit XML: testsuites/testsuite/testcase/failure with their counts", async () => {
    const dir = folder({ "scoring.test.json": { cases: [passing, failing] }, "broken.test.json": "{ not json" });
    const out = join(dir, "junit.xml");
    const { code } = await run([dir, "--junit", out]);
    expect(code).toBe(1);
    const xml = await parseStringPromise(readFileSync(out, "utf8"));
    expect(xml.testsuites.$).toMatchObject({ tests: "3", failures: "1", errors: "1" });
    const suites = xml.testsuites.testsuite as { $: Record<string, string>; testcase: { $: Record<string, string>; failure?: { _: string; $: { message: string } }[]; error?: unknown[] }[] }[];
    expect(suites.map((s) => s.$.name.replace(`${dir}/`, ""))).toEqual(["broken.test.json", "scoring.test.json"]);
    const [broken, scoring] = suites;
    expect(broken.$).toMatchObject({ tests: "1", failures: "0", errors: "1" });
    expect(broken.testcase[0].error).toHaveLength(1);
    expect(scoring.$).toMatchObject({ tests: "2", failures: "1", errors: "0", skipped: "0" });
    expect(scoring.testcase.map((t) => [t.$.name, t.$.classname])).toEqual([["the fixed answer is tagged", "scoring"], ["a wrong sum", "scoring"]]);
    expect(scoring.testcase[0].failure).toBeUndefined();
    expect(scoring.testcase[1].failure![0]._).toContain('-     "sum": 7');
    for (const t of scoring.testcase) expect(Number(t.$.time)).toBeGreaterThanOrEqual(0);
  });

  it("--schema prints the JSON Schema the test files are validated with", async () => {
    const { code, output } = await run(["--schema"]);
    expect(code).toBe(0);
    const schema = JSON.parse(output);
    expect(schema.required).toEqual(["cases"]);
    expect(Object.keys(schema.properties.cases.items.properties)).toEqual(expect.arrayContaining(["inputs", "fixtures", "expect"]));
  });

  it("--watch runs again when a test file changes or one is added", async () => {
    const dir = folder({ "scoring.test.json": { cases: [failing] } });
    const cli = evoflow(["test", dir, "--watch"]);
    try {
      await cli.waitFor(/watching /);
      expect(cli.output).toContain("0 passed, 1 failed");
      writeFileSync(join(dir, "scoring.test.json"), JSON.stringify({ cases: [passing] }));
      await cli.waitFor(/change seen[\s\S]*1 passed, 0 failed/);
      // A test file added to the folder named is run too.
      writeFileSync(join(dir, "more.test.json"), JSON.stringify({ pipeline: "scoring.json", cases: [passing] }));
      await cli.waitFor(/change seen[\s\S]*change seen[\s\S]*2 passed, 0 failed \(2 files\)/);
    } finally {
      await cli.kill();
    }
  });
});

describe("evoflow test --nats", () => {
  let nats: NatsServer;
  beforeAll(async () => {
    nats = await NatsServer.start();
  });
  afterAll(async () => {
    await nats?.dispose();
  });

  it("runs the cases on a real nats-server: async edges through JetStream, dead letters in its stream", async () => {
    const dir = folder({
      "scoring.test.json": { cases: [passing, failing, { name: "dead letter", inputs: passing.inputs, expect: [{ deadLetters: { node: "model", reason: "the real model ran" } }] }] },
    });
    const nc = await connect({ servers: nats.url });
    try {
      const jsm = await jetstreamManager(nc);
      const caseStreams = async () => (await jsm.streams.names().next()).filter((s) => s.startsWith("EVOFLOW_scoring-t"));
      // Each case runs under a name of its own: its stream is on the server while it runs.
      const seen = new Set<string>();
      const cli = evoflow(["test", dir, "--nats", nats.url]);
      const exited = new Promise<number | null>((resolve) => cli.child.once("exit", resolve));
      let code: number | null | undefined;
      void exited.then((c) => (code = c));
      while (code === undefined) {
        for (const s of await caseStreams()) seen.add(s);
        await new Promise((r) => setTimeout(r, 20));
      }
      const output = cli.output;
      expect(output).toMatch(/ok {4}the fixed answer is tagged/);
      expect(output).toMatch(/FAIL {2}a wrong sum/);
      expect(output).toContain('+     "sum": 3');
      expect(output).toMatch(/ok {4}dead letter/);
      expect(code).toBe(1);
      expect(seen.size, output).toBeGreaterThanOrEqual(1);
      // ...and gone after it, with its definition's key in the pipelines bucket.
      expect(await caseStreams()).toEqual([]);
      const definitions = await jsm.streams.info("KV_evoflow_pipelines");
      expect(definitions.state.subjects ?? {}).toEqual({});
      expect(definitions.state.messages).toBe(0);
    } finally {
      await nc.close();
    }
  });
});
