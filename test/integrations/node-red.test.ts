/**
 * The Node-RED palette package (integrations/node-red-contrib-evoflow) in real Node-RED 4:
 * installed from its `npm pack` tarball, a flow deployed through the admin API (POST /flows)
 * calls a real `evoflow run` (pipelines/hello-http.json), taps one of its edges over the live
 * WebSocket and runs OIP v2 inference on a real `evoflow agent`. The test reads what arrives
 * from Node-RED's `http response` answers and from JSONL files its `file` nodes write.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FsModelRegistry } from "../../runtime/registry/fs";
import { launch, pageErrors } from "../editor/harness";
import { expectClose, sampleInput, tempDir } from "../agent/helpers";
import { makeMlp } from "../fixtures/mlp";
import { evoflow, until, type CliProcess } from "../nats/cli";
import { freePort } from "../nats/server";
import { jsonlSink, placed, startNodeRed, userDirWithPalette, type NodeRed } from "./node-red";

const TOKEN = "node-red-test-token-7f3a9c";
const AGENT_TOKEN = "node-red-agent-token-51be";
const EDGE = "request_out-stats_in";

const readJsonl = (file: string): Record<string, any>[] =>
  existsSync(file) ? readFileSync(file, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l)) : [];

describe("node-red-contrib-evoflow in real Node-RED", () => {
  let userDir: string;
  let npmOutput: string;
  let red: NodeRed;
  let runtime: CliProcess;
  let agent: CliProcess;
  let runtimeUrl: string;
  let agentUrl: string;
  let runtimePort: number;
  const runtimeData = tempDir("node-red-runtime");
  const out = tempDir("node-red-out");
  const mlp = makeMlp({ sizes: [4, 6, 2], seed: 11 });

  // On the same port each time: the tap must find it again after a restart.
  const startRuntime = async () => {
    runtime = evoflow(["run", "pipelines/hello-http.json", "--port", String(runtimePort), "--data", runtimeData, "--token", TOKEN]);
    runtimeUrl = (await runtime.waitFor(/evoflow listening on (http:\/\/[^/\s]+)/))[1];
  };

  const flow = () => {
    const z = "tab";
    const keepStatus = "{ node: msg.status.source.id, fill: msg.status.fill, text: msg.status.text }";
    return placed([
      { id: z, type: "tab", label: "evoflow" },
      // The tokens go only in each config node's `credentials`, as the editor sends them.
      { id: "good", type: "evoflow-server", name: "runtime", url: runtimeUrl, credentials: { token: TOKEN } },
      { id: "bad", type: "evoflow-server", name: "wrong token", url: runtimeUrl, credentials: { token: "not-the-token" } },
      { id: "gpu", type: "evoflow-server", name: "agent", url: agentUrl, credentials: { token: AGENT_TOKEN } },
      // http in → evoflow pipeline → http response: the pipeline served from Node-RED.
      { id: "call-in", type: "http in", z, url: "/call", method: "post", wires: [["call"]] },
      { id: "call", type: "evoflow-pipeline", z, server: "good", pipeline: "hello", wires: [["call-out", "outputs"]] },
      { id: "call-out", type: "http response", z, wires: [] },
      ...jsonlSink("outputs", z, join(out, "outputs.jsonl"), "{ payload: msg.payload, traceId: msg.traceId }"),
      // Injected once at deploy.
      { id: "inject", type: "inject", z, once: true, onceDelay: 0.1, topic: "from-inject", payload: '{"x":[10,20,30]}', payloadType: "json", props: [{ p: "payload" }, { p: "topic", vt: "str" }], wires: [["call-injected"]] },
      { id: "call-injected", type: "evoflow-pipeline", z, server: "good", pipeline: "hello", wires: [["injected"]] },
      ...jsonlSink("injected", z, join(out, "injected.jsonl"), "{ topic: msg.topic, payload: msg.payload }"),
      // Refused calls: a catch node answers the HTTP request with the error.
      { id: "bad-in", type: "http in", z, url: "/call-bad", method: "post", wires: [["call-bad"]] },
      { id: "call-bad", type: "evoflow-pipeline", z, server: "bad", pipeline: "hello", wires: [["call-out"]] },
      { id: "nope-in", type: "http in", z, url: "/call-nope", method: "post", wires: [["call-nope"]] },
      { id: "call-nope", type: "evoflow-pipeline", z, server: "good", pipeline: "nope", wires: [["call-out"]] },
      { id: "infer-in", type: "http in", z, url: "/infer", method: "post", wires: [["infer"]] },
      { id: "infer", type: "evoflow-infer", z, server: "gpu", model: "tiny", inputName: "input", shape: "-1,4", datatype: "FP32", output: "data", wires: [["call-out"]] },
      { id: "infer-nope-in", type: "http in", z, url: "/infer-nope", method: "post", wires: [["infer-nope"]] },
      { id: "infer-nope", type: "evoflow-infer", z, server: "gpu", model: "nope", wires: [["call-out"]] },
      { id: "caught", type: "catch", z, scope: ["call-bad", "call-nope", "infer", "infer-nope"], uncaught: false, wires: [["answer-error"]] },
      { id: "answer-error", type: "function", z, func: "msg.statusCode = 502;\nmsg.payload = { error: msg.error.message, evoflowError: msg.evoflowError };\nreturn msg;", outputs: 1, wires: [["call-out"]] },
      // The taps: one with the token, one with a wrong one whose errors a catch node writes down.
      { id: "tap", type: "evoflow-tap", z, server: "good", pipeline: "hello", edge: EDGE, perSecond: 1000, wires: [["tapped"]] },
      ...jsonlSink("tapped", z, join(out, "tap.jsonl"), "{ topic: msg.topic, payload: msg.payload, traceId: msg.evoflow.traceId, source: msg.evoflow.source }"),
      { id: "tap-bad", type: "evoflow-tap", z, server: "bad", pipeline: "hello", edge: EDGE, wires: [[]] },
      { id: "tap-missing", type: "evoflow-tap", z, server: "good", pipeline: "hello", edge: "no_such-edge", wires: [[]] },
      { id: "tap-caught", type: "catch", z, scope: ["tap-bad", "tap-missing"], uncaught: false, wires: [["tap-errors"]] },
      ...jsonlSink("tap-errors", z, join(out, "tap-errors.jsonl"), "{ error: msg.error.message }"),
      { id: "statuses", type: "status", z, scope: ["tap", "tap-bad", "call-bad"], wires: [["status"]] },
      ...jsonlSink("status", z, join(out, "status.jsonl"), keepStatus),
    ]);
  };

  const post = async (path: string, body: unknown) => {
    const res = await fetch(`${red.url}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    return { status: res.status, body: await res.json() };
  };

  beforeAll(async () => {
    ({ userDir, npmOutput } = userDirWithPalette());
    runtimePort = await freePort();
    const registryDir = tempDir("node-red-registry");
    const registry = new FsModelRegistry(registryDir);
    await registry.register({ name: "tiny", artifact: mlp.bytes });
    await registry.promote("tiny", 1);
    await registry.close();
    agent = evoflow(["agent", "--port", "0", "--registry", registryDir, "--memory", "64MB", "--token", AGENT_TOKEN]);
    await startRuntime();
    agentUrl = (await agent.waitFor(/listening on (http:\/\/[^/\s]+)/))[1];
    red = await startNodeRed(userDir);
    await red.deploy(flow());
  }, 90_000);

  afterAll(async () => {
    await red?.stop();
    await runtime?.kill("SIGTERM");
    await agent?.kill("SIGTERM");
  });

  it("installs from its tarball with no registry and loads its four node types", async () => {
    expect(npmOutput).toMatch(/added 2 packages/);
    const modules = (await red.get("/nodes")) as { module: string; types: string[]; enabled: boolean; err?: string }[];
    const ours = modules.filter((m) => m.module === "node-red-contrib-evoflow");
    expect(ours.map((m) => ({ types: m.types, enabled: m.enabled, err: m.err }))).toEqual(
      ["evoflow-server", "evoflow-pipeline", "evoflow-tap", "evoflow-infer"].map((t) => ({ types: [t], enabled: true, err: undefined })),
    );
    // Each node's help text is in what the editor loads for the sidebar.
    const html = await (await fetch(`${red.url}/nodes`, { headers: { accept: "text/html" } })).text();
    for (const t of ["evoflow-server", "evoflow-pipeline", "evoflow-tap", "evoflow-infer"]) expect(html).toContain(`data-help-name="${t}"`);
  });

  it("calls the pipeline, passes the rest of msg on, and taps its edge", async () => {
    // The injected message, sent at deploy.
    const injected = await until("the injected message's answer", () => readJsonl(join(out, "injected.jsonl"))[0]);
    expect(injected).toEqual({ topic: "from-inject", payload: { sum: 60, mean: 20, n: 3, pipeline: "hello" } });

    // The tap connects at deploy too: call until one of our requests shows on the edge.
    await until("the tap to carry a request", async () => {
      const res = await post("/call", { x: [1] });
      expect(res).toEqual({ status: 200, body: { sum: 1, mean: 1, n: 1, pipeline: "hello" } });
      await new Promise((r) => setTimeout(r, 200));
      return readJsonl(join(out, "tap.jsonl")).some((m) => m.payload.x?.[0] === 1) || undefined;
    });
    const tappedBefore = readJsonl(join(out, "tap.jsonl")).length;
    const outputsBefore = readJsonl(join(out, "outputs.jsonl")).length;
    for (let i = 2; i <= 6; i++) expect(await post("/call", { x: [i, i * 10] })).toEqual({ status: 200, body: { sum: i * 11, mean: i * 5.5, n: 2, pipeline: "hello" } });

    const outputs = await until("five outputs", () => {
      const lines = readJsonl(join(out, "outputs.jsonl")).slice(outputsBefore);
      return lines.length >= 5 ? lines : undefined;
    });
    expect(outputs.map((o) => o.payload.sum)).toEqual([22, 33, 44, 55, 66]);
    const tapped = await until("five tapped messages", () => {
      const lines = readJsonl(join(out, "tap.jsonl")).slice(tappedBefore);
      return lines.length >= 5 ? lines : undefined;
    });
    expect(tapped.map((t) => t.payload)).toEqual([2, 3, 4, 5, 6].map((i) => ({ x: [i, i * 10] })));
    expect(tapped[0]).toMatchObject({ topic: `hello/${EDGE}`, source: { pipeline: "hello", node: "request", port: "out" } });
    // The same requests: the tap's trace ids are the ones the pipeline node got back.
    expect(tapped.map((t) => t.traceId)).toEqual(outputs.map((o) => o.traceId));
    expect(readJsonl(join(out, "status.jsonl")).some((s) => s.node === "tap" && s.fill === "green" && /connected/.test(s.text))).toBe(true);
  });

  it("runs OIP v2 inference on the agent, from numbers shaped by the node", async () => {
    const x = sampleInput(mlp, 2, 3);
    const res = await post("/infer", Array.from(x));
    expect(res.status).toBe(200);
    expectClose(res.body, mlp.forward(x, 2));
    // Seven values cannot fill [-1, 4]: the node says so, before any request (Node-RED puts "Error: " before a thrown error's message).
    const bad = await post("/infer", [1, 2, 3, 4, 5, 6, 7]);
    expect(bad).toEqual({ status: 502, body: { error: "Error: 7 values do not fill shape [-1,4]" } });
    // A model the agent does not have: its v2 error body comes with the node error.
    const nope = await post("/infer-nope", [1, 2, 3, 4]);
    expect(nope.status).toBe(502);
    expect(nope.body.evoflowError).toMatchObject({ status: 404, body: { error: expect.stringContaining("nope") } });
    expect(nope.body.error).toBe(`Error: POST /v2/models/nope/infer: 404 ${nope.body.evoflowError.body.error}`);
  });

  it("reports refused calls as node errors with the runtime's JSON body, and keeps running", async () => {
    expect(await post("/call-bad", { x: [1] })).toEqual({
      status: 502,
      body: { error: "Error: POST /pipelines/hello: 401 wrong token", evoflowError: { status: 401, body: { error: "wrong token" } } },
    });
    expect(await post("/call-nope", { x: [1] })).toEqual({
      status: 502,
      body: { error: "Error: POST /pipelines/nope: 404 pipeline entry point nope not found", evoflowError: { status: 404, body: { error: "pipeline entry point nope not found" } } },
    });
    const tapErrors = await until("both taps' errors", () => {
      const errors = readJsonl(join(out, "tap-errors.jsonl")).map((e) => e.error);
      return errors.some((e) => e.includes("no_such-edge")) && errors.some((e) => e.includes("401")) ? errors : undefined;
    });
    expect(tapErrors).toContain(`evoflow tap hello/${EDGE}: 401 wrong token`);
    expect(tapErrors).toContain("evoflow tap hello/no_such-edge: pipeline hello or edge no_such-edge not found");
    const statuses = readJsonl(join(out, "status.jsonl"));
    expect(statuses).toContainEqual({ node: "call-bad", fill: "red", text: "hello: 401 wrong token" });
    expect(statuses).toContainEqual({ node: "tap-bad", fill: "red", text: "disconnected: 401 wrong token" });
    // Node-RED is up and the good path still answers.
    expect(red.process.child.exitCode).toBe(null);
    expect((await post("/call", { x: [7] })).status).toBe(200);
  });

  it("keeps the tokens out of flows.json and stores them encrypted", async () => {
    const flows = readFileSync(join(userDir, "flows.json"), "utf8");
    const servers = (JSON.parse(flows) as Record<string, unknown>[]).filter((n) => n.type === "evoflow-server");
    expect(servers.map((n) => [n.id, n.url, n.credentials])).toEqual([["good", runtimeUrl, undefined], ["bad", runtimeUrl, undefined], ["gpu", agentUrl, undefined]]);
    for (const secret of [TOKEN, AGENT_TOKEN, "not-the-token"]) {
      expect(flows).not.toContain(secret);
      expect(readFileSync(join(userDir, "flows_cred.json"), "utf8")).not.toContain(secret);
      expect(JSON.stringify(await red.get("/flows"))).not.toContain(secret);
    }
    expect(JSON.parse(readFileSync(join(userDir, "flows_cred.json"), "utf8"))).toHaveProperty("$");
  });

  it("shows the nodes in Node-RED's editor: palette, help, edit forms, and the token never sent back", async () => {
    const browser = await launch();
    try {
      const page = await browser.newPage();
      const errors = pageErrors(page);
      // Only loopback: a request to an outside host would hang where the network drops it.
      const outside: string[] = [];
      await page.route((url) => !url.href.startsWith(red.url), (route) => (outside.push(route.request().url()), route.abort()));
      await page.goto(red.url);
      for (const t of ["evoflow-pipeline", "evoflow-tap", "evoflow-infer"]) await page.locator(`.red-ui-palette-node[data-palette-type="${t}"]`).waitFor();
      await page.evaluate(() => (window as any).RED.sidebar.help.show("evoflow-tap"));
      await expect.poll(() => page.locator(".red-ui-sidebar-help-stack").innerText()).toContain("Streams the messages on one edge");
      // The deployed pipeline node's form holds its properties; its server's form a masked token.
      await page.evaluate(() => (window as any).RED.editor.edit((window as any).RED.nodes.node("call")));
      await expect.poll(() => page.locator("#node-input-pipeline").inputValue()).toBe("hello");
      await page.evaluate(() => (window as any).RED.tray.close());
      await page.evaluate(() => (window as any).RED.editor.editConfig("", "evoflow-server", "good"));
      await expect.poll(() => page.locator("#node-config-input-url").inputValue()).toBe(runtimeUrl);
      expect(await page.locator("#node-config-input-token").inputValue()).toBe("__PWRD__");
      expect(await page.content()).not.toContain(TOKEN);
      expect(errors).toEqual([]);
      expect(outside).toEqual([]);
    } finally {
      await browser.close();
    }
  }, 120_000); // Chromium on Node-RED's whole editor: 7.6 s alone, past 60 s once while the full suite loaded the machine

  it("the tap reconnects after the runtime restarts", async () => {
    await runtime.kill("SIGTERM");
    await until("the tap to see the runtime go", () => readJsonl(join(out, "status.jsonl")).some((s) => s.node === "tap" && s.fill === "red") || undefined, 20_000);
    await startRuntime();
    const before = readJsonl(join(out, "tap.jsonl")).length;
    await until("a tapped message after the restart", async () => {
      expect((await post("/call", { x: [99] })).status).toBe(200);
      await new Promise((r) => setTimeout(r, 300));
      return readJsonl(join(out, "tap.jsonl")).slice(before).some((m) => m.payload.x[0] === 99) || undefined;
    }, 40_000);
  });
});
