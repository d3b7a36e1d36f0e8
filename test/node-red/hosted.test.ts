/**
 * Node-RED's own nodes hosted in a pipeline (nodes/node-red/): the real node-red 4 runtime
 * embedded in this process runs a change, a template and a csv node between an io.http entry
 * and its answer; a function node that throws or calls done(err) sends the message to the dead
 * letters with its error and the next message is served; credentials stay secret references
 * in the exported pipeline and never reach a tap.
 */
import { mkdtempSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { formatPipeline } from "../../runtime/canonical";
import { Runtime } from "../../runtime/runtime";
import { SecretStore } from "../../runtime/secrets";

const dataDir = mkdtempSync(join(tmpdir(), "evoflow-node-red-hosted-"));
const rt = new Runtime({ dataDir, grants: ["exec"] });
afterAll(() => rt.close());

const pipeline = (name: string, nodes: unknown[], edges: unknown[]) => ({ apiVersion: "evoflow/v1", name, nodes, edges });
const chain = (name: string, hosted: { id: string; type: string; config: unknown }[]) =>
  pipeline(name, [{ id: "h", type: "io.http" }, ...hosted], ["h", ...hosted.map((n) => n.id)].slice(1).map((id, i, ids) => ({ from: `${i === 0 ? "h" : ids[i - 1]}.out`, to: `${id}.in` })));

describe("Node-RED nodes hosted in a pipeline", () => {
  it("change, template and csv nodes answer as they do in Node-RED", async () => {
    const running = await rt.deploy(
      chain("nr-chain", [
        { id: "change", type: "node-red.change", config: { rules: [{ t: "set", p: "payload.total", pt: "msg", to: "payload.a + payload.b", tot: "jsonata" }, { t: "delete", p: "payload.b", pt: "msg" }] } },
        { id: "template", type: "node-red.template", config: { template: "{{payload.a}},{{payload.total}}\n", output: "str", syntax: "mustache" } },
        { id: "csv", type: "node-red.csv", config: { temp: "a,total", hdrin: false, ret: "\\n", multi: "one" } },
      ]),
    );
    const [reply] = await running.entrypoints.get("nr-chain")!.invoke({ a: 2, b: 40 });
    // csv turns the line into an object by its column names, numbers parsed.
    expect(reply.payload).toEqual({ a: 2, total: 42 });
    // Node-RED's change node edits msg.payload in place: what the edge into it carried is still what was sent.
    expect(running.taps.read("h_out-change_in").messages.map((m) => m.payload)).toEqual([{ a: 2, b: 40 }]);
    expect(running.status().nodes.change).toMatchObject({ received: 1, sent: 1, failed: 0 });
    await rt.undeploy("nr-chain");
  });

  it("a node that throws or calls done(err) sends the message to the dead letters; the next one is served", async () => {
    const running = await rt.deploy(
      chain("nr-errors", [
        {
          id: "fn",
          type: "node-red.function",
          config: { func: "if (msg.payload.mode === 'throw') throw new Error('thrown: ' + msg.payload.n);\nif (msg.payload.mode === 'done') { node.done(new Error('done with error ' + msg.payload.n)); return; }\nif (msg.payload.mode === 'error') { node.error('node.error ' + msg.payload.n, msg); return null; }\nnode.status({ fill: 'green', shape: 'dot', text: 'saw ' + msg.payload.n });\nmsg.payload = { n: msg.payload.n * 10 };\nreturn msg;" },
        },
      ]),
    );
    const entry = running.entrypoints.get("nr-errors")!;
    await expect(entry.invoke({ mode: "throw", n: 1 })).rejects.toThrow(/thrown: 1/);
    await expect(entry.invoke({ mode: "done", n: 2 })).rejects.toThrow(/done with error 2/);
    await expect(entry.invoke({ mode: "error", n: 3 })).rejects.toThrow(/node.error 3/);
    const [reply] = await entry.invoke({ mode: "ok", n: 3 });
    expect(reply.payload).toEqual({ n: 30 });
    expect(running.deadLetters.toArray().map((l) => l.reason)).toEqual([expect.stringMatching(/Node-RED function: .*thrown: 1/), expect.stringMatching(/Node-RED function: .*done with error 2/), expect.stringMatching(/Node-RED function: node.error 3/)]);
    expect(running.status().nodes.fn).toMatchObject({ fill: "green", shape: "dot", text: "saw 3", received: 4, failed: 3 });
    await rt.undeploy("nr-errors");
  });

  it("gives an http request node its credentials from the secret store; the pipeline JSON and the taps never hold them", async () => {
    const password = "s3cret-Pa55word";
    await new SecretStore(dataDir).set("web-password", password);
    // A web service on loopback that says whether the basic auth it was sent is the right one.
    const server = createServer((req, res) => {
      const expected = `Basic ${Buffer.from(`robot:${password}`).toString("base64")}`;
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify({ authorized: req.headers.authorization === expected }));
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/who`;
    try {
      const definition = chain("nr-creds", [
        { id: "request", type: "node-red.http-request", config: { method: "GET", url, ret: "obj", authType: "basic", credentials: { user: "${secret:web-user}", password: "${secret:web-password}" } } },
      ]);
      const plain = structuredClone(definition);
      (plain.nodes[1] as { config: { credentials: Record<string, string> } }).config.credentials.password = password;
      await expect(rt.deploy(plain)).rejects.toThrow(/\$\.nodes\[1\]\.config\.credentials\.password: a secret is not written in the pipeline/);
      await expect(rt.deploy(definition)).rejects.toThrow(/web-user/);
      await new SecretStore(dataDir).set("web-user", "robot");
      const running = await rt.deploy(definition);
      const [reply] = await running.entrypoints.get("nr-creds")!.invoke({ ask: 1 });
      expect(reply.payload).toEqual({ authorized: true });
      const exported = formatPipeline(running.compiled.pipeline);
      expect(exported).toContain("${secret:web-password}");
      expect(exported).not.toContain(password);
      for (const edge of running.compiled.edges) expect(JSON.stringify(running.taps.read(edge.id).messages)).not.toContain(password);
      expect(JSON.stringify(running.status())).not.toContain(password);
      await rt.undeploy("nr-creds");
    } finally {
      server.close();
    }
  });
});
