/**
 * Secrets (issue 22 point 5): a config's password is a reference, `${secret:NAME}` (the data
 * folder's store) or `${env:EVOFLOW_NAME}`, never the value. Validate refuses a value written in
 * the pipeline and an environment variable outside EVOFLOW_, at its JSON path; deploy refuses a
 * secret the machine lacks; `evoflow secrets set` stores it (0600) from stdin, and a real
 * mosquitto with password auth then accepts the node; the HTTP API lists names and never values.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connectAsync } from "mqtt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApi } from "../../runtime/api/server";
import { nodeTypes } from "../../runtime/node-types";
import { PipelineInvalidError, Runtime } from "../../runtime/runtime";
import { validatePipeline } from "../../runtime/validate";
import { Mosquitto } from "../connectors/mosquitto";

const BIN = join(import.meta.dirname, "../../bin/evoflow.js");
const pipeline = (password: string, url: string) => ({
  apiVersion: "evoflow/v1",
  name: "plant",
  nodes: [
    { id: "readings", type: "mqtt.subscribe", config: { url, topics: ["plant/temp"], qos: 1, username: "ml", password } },
    { id: "log", type: "io.sink", config: { kind: "jsonl", path: "readings.jsonl" } },
  ],
  edges: [{ from: "readings.out", to: "log.in" }],
});

let broker: Mosquitto;
beforeAll(async () => {
  broker = await Mosquitto.start({ users: { ml: "s3cret-pw" } });
});
afterAll(async () => broker?.stop());

async function received(runtime: Runtime, dataDir: string): Promise<unknown[]> {
  const publisher = await connectAsync(broker.url, { username: "ml", password: "s3cret-pw" });
  const deadline = Date.now() + 10_000;
  const file = join(dataDir, "plant", "readings.jsonl");
  for (;;) {
    await publisher.publishAsync("plant/temp", JSON.stringify({ c: 21.5 }), { qos: 1 });
    try {
      const lines = readFileSync(file, "utf8").trim().split("\n").filter(Boolean);
      if (lines.length) return (await publisher.endAsync(), lines.map((l) => JSON.parse(l).payload));
    } catch {
      // not written yet
    }
    if (Date.now() > deadline) throw new Error(`nothing arrived; status ${JSON.stringify(runtime.get("plant")?.status?.())}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe("secrets", () => {
  it("validate refuses a password written in the pipeline, and an environment variable outside EVOFLOW_, at the JSON path", () => {
    const literal = validatePipeline(pipeline("s3cret-pw", broker.url), nodeTypes);
    expect(literal.problems).toEqual([{ path: "$.nodes[0].config.password", message: expect.stringContaining('a secret is not written in the pipeline: give "${secret:NAME}"') }]);
    const env = validatePipeline(pipeline("${env:AWS_SECRET_ACCESS_KEY}", broker.url), nodeTypes);
    expect(env.problems).toEqual([{ path: "$.nodes[0].config.password", message: expect.stringContaining("only environment variables whose name starts with EVOFLOW_") }]);
    const inUrl = validatePipeline(pipeline("${secret:mqtt-pw}", broker.url.replace("mqtt://", "mqtt://ml:s3cret-pw@")), nodeTypes);
    expect(inUrl.problems).toEqual([{ path: "$.nodes[0].config.url", message: expect.stringContaining("a URL must not carry a password") }]);
  });

  it("deploy refuses a secret the data folder lacks; set with the CLI from stdin, the node connects with it", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "evoflow-secrets-"));
    const runtime = new Runtime({ dataDir });
    try {
      const error = await runtime.deploy(pipeline("${secret:mqtt-pw}", broker.url)).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(PipelineInvalidError);
      expect((error as PipelineInvalidError).problems).toEqual([{ path: "$.nodes[0].config.password", message: expect.stringContaining('no secret "mqtt-pw"') }]);

      const out = execFileSync(process.execPath, [BIN, "secrets", "set", "mqtt-pw", "--data", dataDir], { input: "s3cret-pw\n", encoding: "utf8" });
      expect(out).toContain('configs name it "${secret:mqtt-pw}"');
      const file = join(dataDir, "secrets", "mqtt-pw");
      expect(readFileSync(file, "utf8")).toBe("s3cret-pw"); // the shell's newline is not the secret's
      expect(statSync(file).mode & 0o777).toBe(0o600);
      expect(statSync(join(dataDir, "secrets")).mode & 0o777).toBe(0o700);
      expect(execFileSync(process.execPath, [BIN, "secrets", "list", "--data", dataDir], { encoding: "utf8" })).toBe("mqtt-pw\n");

      await runtime.deploy(pipeline("${secret:mqtt-pw}", broker.url));
      expect(await received(runtime, dataDir)).toContainEqual({ c: 21.5 });
    } finally {
      await runtime.close();
    }
  });

  it("reads ${env:EVOFLOW_…} from the runtime's environment, and a wrong password shows in the status, not the password", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "evoflow-secrets-"));
    const runtime = new Runtime({ dataDir });
    process.env.EVOFLOW_TEST_MQTT_PW = "s3cret-pw";
    try {
      await runtime.deploy(pipeline("${env:EVOFLOW_TEST_MQTT_PW}", broker.url));
      expect(await received(runtime, dataDir)).toContainEqual({ c: 21.5 });
      await runtime.undeploy("plant");
      delete process.env.EVOFLOW_TEST_MQTT_PW;
      const error = await runtime.deploy(pipeline("${env:EVOFLOW_TEST_MQTT_PW}", broker.url)).catch((e: unknown) => e);
      expect((error as PipelineInvalidError).problems).toEqual([{ path: "$.nodes[0].config.password", message: "the environment variable EVOFLOW_TEST_MQTT_PW is not set in the runtime's process" }]);
    } finally {
      delete process.env.EVOFLOW_TEST_MQTT_PW;
      await runtime.close();
    }
  });

  it("the HTTP API sets and removes secrets as operator, lists names to viewers, and never answers a value", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "evoflow-secrets-"));
    const runtime = new Runtime({ dataDir });
    const app = await createApi({ runtime, auth: { tokens: { op: "operator", view: "viewer" } } });
    const call = (method: "GET" | "PUT" | "DELETE", url: string, token: string, payload?: unknown) =>
      app.inject({ method, url, headers: { host: "127.0.0.1", authorization: `Bearer ${token}`, ...(payload ? { "content-type": "application/json" } : {}) }, payload: payload as never });
    try {
      expect((await call("PUT", "/api/secrets/db-url", "view", { value: "postgres://u:p@h/db" })).statusCode).toBe(403);
      expect((await call("PUT", "/api/secrets/db-url", "op", { value: "postgres://u:p@h/db" })).json()).toEqual({ name: "db-url", set: true });
      expect((await call("PUT", "/api/secrets/..%2Fescape", "op", { value: "x" })).statusCode).toBe(400);
      expect((await call("PUT", "/api/secrets/empty", "op", { value: "" })).statusCode).toBe(400);
      const list = await call("GET", "/api/secrets", "view");
      expect(list.json()).toEqual({ names: ["db-url"] });
      expect(list.body).not.toContain("postgres://");
      expect((await call("GET", "/api/secrets/db-url", "op")).statusCode).toBe(404);
      expect((await call("DELETE", "/api/secrets/db-url", "op")).json()).toEqual({ name: "db-url", removed: true });
      expect((await call("DELETE", "/api/secrets/db-url", "op")).statusCode).toBe(404);
    } finally {
      await app.close();
      await runtime.close();
    }
  });

  it("every config field named like a password, token or credential is a secret field", () => {
    const loose: string[] = [];
    const walk = (type: string, schema: Record<string, unknown> | undefined, name: string) => {
      if (!schema || typeof schema !== "object") return;
      const last = name.split(".").at(-1) ?? "";
      if (schema.type === "string" && /password|secret|token|credential|apikey/i.test(last) && !schema.evoflowSecret && !schema.evoflowPath) loose.push(`${type}:${name}`);
      for (const [k, v] of Object.entries((schema.properties ?? {}) as Record<string, Record<string, unknown>>)) walk(type, v, name ? `${name}.${k}` : k);
      for (const k of ["anyOf", "oneOf", "allOf"]) for (const v of (schema[k] ?? []) as Record<string, unknown>[]) walk(type, v, name);
      walk(type, schema.items as Record<string, unknown> | undefined, name);
    };
    for (const t of nodeTypes.describe()) walk(t.type, t.config as Record<string, unknown>, "");
    expect(loose).toEqual([]);
  });
});
