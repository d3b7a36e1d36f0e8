/**
 * The example node package as a user gets it: packed with `npm pack`, installed from the
 * tarball into a data folder's nodes/ with npm (no registry: the package has no dependencies
 * but its optional peer, evoflow), then used in a pipeline by a real `evoflow run --data`,
 * answered over HTTP with the token `run` saved in the data folder.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { packagesSeen, post, ROOT, startRun, type Server } from "./cli";

const example = path.join(ROOT, "examples/node-package");
const work = mkdtempSync(path.join(tmpdir(), "evoflow-install-"));
const dataDir = path.join(work, "data");
let server: Server;

beforeAll(async () => {
  execFileSync("npm", ["pack", "--pack-destination", work], { cwd: example, stdio: "pipe" });
  const tarball = path.join(work, readdirSync(work).find((f) => f.endsWith(".tgz"))!);
  execFileSync("npm", ["install", "--prefix", path.join(dataDir, "nodes"), tarball, "--offline", "--no-audit", "--no-fund"], { cwd: work, stdio: "pipe" });
  server = await startRun([path.join(example, "test/acme-demo.json")], dataDir, work);
}, 120_000);
afterAll(() => server?.stop());

describe("a node package installed from its tarball", () => {
  it("is found in the data folder's nodes/ with its version and types", () => {
    const acme = packagesSeen(["--data", dataDir], work).find((p) => p.name === "evoflow-nodes-acme");
    expect(acme).toMatchObject({ version: "1.0.0", source: "data", types: ["acme.count", "acme.scale"] });
    expect(acme!.dir).toBe(path.join(dataDir, "nodes/node_modules/evoflow-nodes-acme"));
  });

  it("runs in a pipeline deployed by evoflow run", async () => {
    expect(await post(server, "/pipelines/acme-demo", { value: 21 })).toEqual({ status: 200, body: { value: 42, count: 1 } });
  });

  it("is described by the runtime's API with its package", async () => {
    const res = await fetch(`${server.url}/api/nodes`, { headers: { authorization: `Bearer ${server.token}` } });
    const scale = ((await res.json()) as { type: string; package?: string }[]).find((d) => d.type === "acme.scale");
    expect(scale).toMatchObject({ package: "evoflow-nodes-acme", category: "transform", defaults: { factor: 2, field: "value" } });
  });
});
