/**
 * The palette manager's HTTP API on a real `evoflow serve`: who may install (operator role and
 * the exec capability), what a request body may name (paths inside the data folder only), and
 * that the running runtime deploys a newly installed type at once and keeps a type in use.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { post, ROOT, startRun, writePackage, type Server } from "./cli";

const work = mkdtempSync(path.join(tmpdir(), "evoflow-manage-api-"));
const VIEWER = "viewer-token-0123456789abcdef";
const demo = JSON.parse(readFileSync(path.join(ROOT, "examples/node-package/test/acme-demo.json"), "utf8"));
let withExec: Server;
let withoutExec: Server;

function dataFolder(name: string): string {
  const dir = path.join(work, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, "settings.json"), JSON.stringify({ tokens: [{ token: VIEWER, role: "viewer" }] }));
  execFileSync("npm", ["pack", "--pack-destination", dir], { cwd: path.join(ROOT, "examples/node-package"), stdio: "pipe" });
  return dir;
}

async function call(server: Server, method: string, route: string, body?: unknown, token = server.token) {
  const res = await fetch(`${server.url}${route}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body !== undefined && { "content-type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

const types = async (server: Server) => ((await call(server, "GET", "/api/nodes")).body as unknown as { type: string }[]).map((t) => t.type);

beforeAll(async () => {
  const a = dataFolder("with-exec");
  const b = dataFolder("without-exec");
  writePackage(path.join(a, "scoped"), { name: "@demo/nodes", evoflow: { sdk: "^1", nodes: ["./index.js"] } }, ["demo.pass"]);
  writePackage(path.join(a, "broken"), { name: "evoflow-nodes-broken", evoflow: { sdk: "^1", nodes: ["./index.js"] } }, ["Broken.pass"]);
  [withExec, withoutExec] = await Promise.all([startRun(["--grant", "exec"], a, work, "serve"), startRun(["--grant", "fs-write,network"], b, work, "serve")]);
}, 120_000);
afterAll(() => {
  withExec?.stop();
  withoutExec?.stop();
});

describe("installing node packages over HTTP", () => {
  it("needs the operator role, then the exec capability, each refusal naming what is missing", async () => {
    const viewer = await call(withExec, "POST", "/api/packages", { tarball: "evoflow-nodes-acme-1.0.0.tgz" }, VIEWER);
    expect(viewer).toEqual({ status: 403, body: { error: "POST /api/packages needs role operator; this token has role viewer" } });
    expect((await call(withExec, "DELETE", "/api/packages/evoflow-nodes-acme", undefined, VIEWER)).status).toBe(403);
    const noExec = await call(withoutExec, "POST", "/api/packages", { tarball: "evoflow-nodes-acme-1.0.0.tgz" });
    expect(noExec.status).toBe(403);
    expect(noExec.body).toMatchObject({ missing: ["exec"] });
    expect(noExec.body.error).toContain('does not grant the "exec" capability (start it with --grant exec');
    expect((await call(withoutExec, "GET", "/api/packages", undefined, VIEWER)).body).toMatchObject({ canManage: false });
    expect(await types(withoutExec)).not.toContain("acme.scale");
  });

  it("refuses bodies it cannot install with 400 and the reason", async () => {
    const refused = async (body: unknown) => {
      const res = await call(withExec, "POST", "/api/packages", body);
      expect(res.status, JSON.stringify(res.body)).toBe(400);
      return res.body.error as string;
    };
    expect(await refused({})).toContain('the body must be {"package": "name@range"}');
    expect(await refused({ package: "acme", tarball: "x.tgz" })).toContain("the body must be");
    expect(await refused({ package: "git+https://example.com/x.git" })).toContain("is not an npm package name");
    expect(await refused({ package: "evoflow-nodes-acme@$(id)" })).toContain('"$(id)" is not a version, range or tag');
    expect(await refused({ tarball: "../../etc/passwd" })).toContain("tarball: path \"../../etc/passwd\"");
    expect(await refused({ tarball: "/etc/passwd" })).toContain("tarball:");
    expect(await refused({ tarball: "missing.tgz" })).toContain("no such file or folder in the runtime's data folder");
    expect(await refused({ folder: "evoflow-nodes-acme-1.0.0.tgz" })).toBe("folder: evoflow-nodes-acme-1.0.0.tgz is a file");
  });

  it("installs the example tarball into the running runtime: deployable at once, kept while in use, gone after uninstall", async () => {
    const installed = await call(withExec, "POST", "/api/packages", { tarball: "evoflow-nodes-acme-1.0.0.tgz" });
    expect(installed.status, JSON.stringify(installed.body)).toBe(201);
    expect(installed.body).toMatchObject({ package: { name: "evoflow-nodes-acme", version: "1.0.0", source: "data" }, added: ["acme.count", "acme.scale"] });
    expect(installed.body.npm).toContain("added 1 package");
    expect(await types(withExec)).toEqual(expect.arrayContaining(["acme.count", "acme.scale"]));
    const listed = (await call(withExec, "GET", "/api/packages", undefined, VIEWER)).body;
    expect(listed).toMatchObject({ canManage: true, packages: expect.arrayContaining([expect.objectContaining({ name: "evoflow-nodes-acme", types: ["acme.count", "acme.scale"] })]) });

    expect((await call(withExec, "POST", "/api/pipelines", demo)).status).toBe(201);
    expect(await post(withExec, "/pipelines/acme-demo", { value: 21 })).toEqual({ status: 200, body: { value: 42, count: 1 } });
    expect(await call(withExec, "DELETE", "/api/packages/evoflow-nodes-acme")).toMatchObject({
      status: 409,
      body: { error: 'evoflow-nodes-acme gives node types that running pipelines use: stop "acme-demo" first', pipelines: ["acme-demo"] },
    });

    expect((await call(withExec, "DELETE", "/api/pipelines/acme-demo")).status).toBe(200);
    expect(await call(withExec, "DELETE", "/api/packages/evoflow-nodes-acme")).toMatchObject({ status: 200, body: { uninstalled: "evoflow-nodes-acme", types: ["acme.count", "acme.scale"] } });
    expect(await types(withExec)).not.toContain("acme.scale");
    const again = await call(withExec, "POST", "/api/pipelines", demo);
    expect(again.status).toBe(400);
    expect(JSON.stringify(again.body)).toContain("acme.scale");
    expect((await call(withExec, "DELETE", "/api/packages/evoflow-nodes-acme")).status).toBe(404);
  }, 60_000);

  it("installs and uninstalls a scoped package by its @scope/name", async () => {
    expect(await call(withExec, "POST", "/api/packages", { folder: "scoped" })).toMatchObject({ status: 201, body: { package: { name: "@demo/nodes" }, added: ["demo.pass"] } });
    expect(await types(withExec)).toContain("demo.pass");
    expect(await call(withExec, "DELETE", "/api/packages/@demo/nodes")).toMatchObject({ status: 200, body: { uninstalled: "@demo/nodes", types: ["demo.pass"] } });
    expect(await types(withExec)).not.toContain("demo.pass");
  }, 60_000);

  it("refuses a folder whose package does not load with 422 and its reasons, and the registry stays as it was", async () => {
    const before = await types(withExec);
    const res = await call(withExec, "POST", "/api/packages", { folder: "broken" });
    expect(res.status).toBe(422);
    expect(res.body.error).toBe("evoflow-nodes-broken was installed but does not load, so it was removed again:");
    expect(JSON.stringify(res.body.problems)).toContain('node type \\"Broken.pass\\" is not in the package\'s namespace');
    expect(await types(withExec)).toEqual(before);
    const listed = (await call(withExec, "GET", "/api/packages")).body.packages as { name: string }[];
    expect(listed.map((p) => p.name)).not.toContain("evoflow-nodes-broken");
  }, 60_000);
});
