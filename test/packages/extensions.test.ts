/**
 * What a node package adds besides node types (sdk/extensions.ts), through the real CLI run in
 * a project whose node_modules holds the package: a CLI command with the CLI's host, a service,
 * and an HTTP route that reads it behind the runtime's access checks; a bad manifest refused.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { evoflow, ROOT, startRun, writePackage } from "./cli";

const fresh = (name: string) => mkdtempSync(path.join(tmpdir(), `evoflow-${name}-`));

function acmeProject(): string {
  const project = fresh("extensions");
  const dir = writePackage(
    path.join(project, "node_modules/evoflow-nodes-acme"),
    {
      name: "evoflow-nodes-acme",
      evoflow: { sdk: "^1", nodes: ["./index.js"], services: ["./services.js"], routes: ["./api.js"], commands: { "acme-hello": "./cli.js" } },
    },
    ["acme.pass"],
  );
  writeFileSync(path.join(dir, "services.js"), `export default ({ dataDir }) => ({ "acme.greeting": { text: "hello from acme", dataDir } });\n`);
  writeFileSync(
    path.join(dir, "api.js"),
    `export default (app, host) => app.get("/api/acme/greeting", async () => ({ ...host.service({ name: "acme.greeting" }), hello: host.hasPipeline("hello"), nope: host.hasPipeline("nope") }));\n`,
  );
  writeFileSync(
    path.join(dir, "cli.js"),
    `export default (program, host) => program.command("acme-hello").description("greets in a table").action(() => process.stdout.write(host.formatTable(["who", "says"], [["acme", "hello"]])));\n`,
  );
  return project;
}

describe("node package extensions", () => {
  it("adds a CLI command, found from the package.json, that gets the CLI's host", () => {
    const project = acmeProject();
    expect(evoflow(["acme-hello"], project)).toMatchObject({ status: 0, stdout: "who   says\nacme  hello\n" });
    expect(evoflow(["--help"], project).stdout).toMatch(/acme-hello\s+greets in a table/);
    // Elsewhere the package is not installed: no such command.
    expect(evoflow(["acme-hello"], fresh("elsewhere")).status).not.toBe(0);
  });

  it("gives a service and a route reading it, behind the runtime's token", async () => {
    const project = acmeProject();
    const data = fresh("data");
    const server = await startRun([path.join(ROOT, "pipelines/hello-http.json")], data, project);
    try {
      const res = await fetch(`${server.url}/api/acme/greeting`, { headers: { authorization: `Bearer ${server.token}` } });
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ text: "hello from acme", dataDir: data, hello: true, nope: false });
      expect((await fetch(`${server.url}/api/acme/greeting`)).status).toBe(401);
    } finally {
      server.stop();
    }
  });

  it("refuses a package whose routes are not a list of modules inside it, naming it", () => {
    const project = fresh("bad-extensions");
    writePackage(path.join(project, "node_modules/evoflow-nodes-bad"), { name: "evoflow-nodes-bad", evoflow: { sdk: "^1", nodes: ["./index.js"], routes: "./api.js" } }, ["bad.pass"]);
    writePackage(path.join(project, "node_modules/evoflow-nodes-out"), { name: "evoflow-nodes-out", evoflow: { sdk: "^1", nodes: ["./index.js"], services: ["../elsewhere.js"] } }, ["out.pass"]);
    const run = evoflow(["nodes"], project);
    expect(run.status).toBe(2);
    expect(run.stderr).toContain('package "evoflow-nodes-bad"');
    expect(run.stderr).toContain('"evoflow.routes" must be a list of modules');
    expect(run.stderr).toContain('package "evoflow-nodes-out"');
    expect(run.stderr).toContain('"evoflow.services": module "../elsewhere.js" is outside the package');
  });
});
