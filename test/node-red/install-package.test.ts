/**
 * A community-style Node-RED package (test/fixtures/node-red-contrib-shout, packed with npm pack
 * as it would be published) installed by `evoflow nodes install <tarball>` into a data folder: its
 * node is then the type `node-red.shout`, with a config form from its Node-RED defaults, and runs
 * in a pipeline on the embedded Node-RED runtime, its done(err) a dead letter.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadNodeTypes } from "../../runtime/node-types";
import { Runtime } from "../../runtime/runtime";
import { pack } from "../integrations/node-red";
import { evoflow } from "../packages/cli";

const work = mkdtempSync(join(tmpdir(), "evoflow-node-red-install-"));
const dataDir = join(work, "data");
let rt: Runtime | undefined;
afterAll(() => rt?.close());

describe("a Node-RED package installed with evoflow nodes install", () => {
  it("installs from its tarball, shows its node with its defaults, and runs it in a pipeline", async () => {
    const tarball = pack(join(import.meta.dirname, "../fixtures/node-red-contrib-shout"), work);
    const install = evoflow(["nodes", "install", tarball, "--data", dataDir]);
    expect(install.status, install.stderr).toBe(0);
    expect(install.stdout).toContain("installed node-red-contrib-shout@1.2.0");
    expect(install.stdout).toContain("node types: node-red.shout");

    const types = await loadNodeTypes({ dataDir });
    const shown = types.describe(new Set(["exec"])).find((d) => d.type === "node-red.shout");
    expect(shown).toMatchObject({ category: "node-red", color: "#e2a96e", capabilities: ["exec"], locked: false, defaults: { name: "", suffix: "!", times: 1 }, inputs: { in: {} }, outputs: { out: {} } });
    expect(shown!.description).toContain("Upper-cases the string in msg.payload and adds the suffix.");
    expect(types.describe(new Set()).find((d) => d.type === "node-red.shout")).toMatchObject({ locked: true, missing: ["exec"] });

    rt = new Runtime({ dataDir, nodeTypes: types, grants: ["exec"] });
    const running = await rt.deploy({
      apiVersion: "evoflow/v1",
      name: "shouting",
      nodes: [{ id: "h", type: "io.http" }, { id: "loud", type: "node-red.shout", config: { suffix: "?", times: 2 } }],
      edges: [{ from: "h.out", to: "loud.in" }],
    });
    const entry = running.entrypoints.get("shouting")!;
    expect((await entry.invoke("hello"))[0].payload).toBe("HELLO??");
    await expect(entry.invoke(5)).rejects.toThrow(/cannot shout a number/);
    expect((await entry.invoke("again"))[0].payload).toBe("AGAIN??");
    expect(running.deadLetters.toArray().map((l) => l.reason)).toEqual([expect.stringContaining("Node-RED shout: Error: cannot shout a number")]);
    expect(running.status().nodes.loud).toMatchObject({ text: "shouted 2", fill: "blue", received: 3, sent: 2, failed: 1 });
  });
});
