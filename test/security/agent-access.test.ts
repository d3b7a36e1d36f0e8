/**
 * `evoflow agent`'s HTTP port (gpu-agent/server.ts) against DNS rebinding and cross-site
 * requests: the runtime's access checks (runtime/api/auth.ts) on a spawned agent, its token
 * when one is given and its refusal to listen beyond loopback without one; roles on an
 * in-process listening agent, driven by the agent's own HTTP client (the Triton backend,
 * as when one agent stands in for Triton). node:http for the requests whose Host a page
 * would set (fetch drops a Host header).
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { request as httpRequest } from "node:http";
import { join } from "node:path";
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ModelHost } from "../../gpu-agent/host";
import { OnnxRuntimeBackend } from "../../gpu-agent/onnxruntime";
import { createAgentServer } from "../../gpu-agent/server";
import { LocalModels } from "../../gpu-agent/service";
import { TritonBackend } from "../../gpu-agent/triton";
import { FsModelRegistry } from "../../runtime/registry/fs";
import { makeMlp } from "../fixtures/mlp";
import { expectClose, sampleInput, telemetryTestEnv, tempDir } from "../agent/helpers";

const root = join(import.meta.dirname, "../..");
const TOKEN = "agent-token-0123456789abcdef";
const VIEWER = "viewer-token-0123456789abcdef";
const MB = 1024 * 1024;
const mlp = makeMlp({ sizes: [4, 6, 2], seed: 5 });
const children: ChildProcess[] = [];
let registryDir: string;

/** The environment of a spawned agent: no token unless the test gives one. */
function agentEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = { ...telemetryTestEnv(tempDir("agent-home")), ...extra };
  if (!extra.EVOFLOW_AGENT_TOKEN) delete env.EVOFLOW_AGENT_TOKEN;
  return env;
}

function startAgent(args: string[], env: NodeJS.ProcessEnv): Promise<{ url: string; output: () => string }> {
  const child = spawn(process.execPath, [join(root, "bin/evoflow.js"), "agent", "--memory", "64MB", "--port", "0", "--registry", registryDir, ...args], { cwd: tempDir("agent-cwd"), env, stdio: ["ignore", "pipe", "pipe"] });
  children.push(child);
  let out = "";
  return new Promise((resolve, reject) => {
    child.stdout!.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) resolve({ url: m[1], output: () => out });
    });
    child.stderr!.on("data", (chunk: Buffer) => (out += chunk.toString()));
    child.once("exit", (code) => reject(new Error(`agent exited (${code}): ${out}`)));
  });
}

interface Answer {
  status: number;
  error?: string;
  body: string;
}

/** One request with exactly these headers (node:http sends the Host we give). */
function send(url: string, method: string, path: string, headers: Record<string, string>, body?: string): Promise<Answer> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: u.hostname, port: u.port, method, path, headers: { host: u.host, ...headers } }, (res) => {
      let text = "";
      res.on("data", (d) => (text += d));
      res.on("end", () => {
        let error: string | undefined;
        try {
          error = (JSON.parse(text) as { error?: string }).error;
        } catch {
          // not JSON (metrics): no error field
        }
        resolve({ status: res.statusCode!, error, body: text });
      });
    });
    req.on("error", reject);
    req.end(body);
  });
}

const x = sampleInput(mlp, 2, 1);
const inferBody = JSON.stringify({ inputs: [{ name: "input", shape: [2, 4], datatype: "FP32", data: Array.from(x) }] });
const JSON_TYPE = { "content-type": "application/json" };

beforeAll(async () => {
  registryDir = tempDir("agent-access-registry");
  const registry = new FsModelRegistry(registryDir);
  await registry.register({ name: "tiny", artifact: mlp.bytes });
  await registry.promote("tiny", 1);
  await registry.close();
});

afterAll(() => {
  for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
});

describe("evoflow agent without a token, on loopback", () => {
  let url: string;
  beforeAll(async () => {
    ({ url } = await startAgent([], agentEnv()));
  }, 60_000);

  it("refuses a foreign Host (DNS rebinding) on every route with 403", async () => {
    const port = new URL(url).port;
    for (const [method, path, body] of [["GET", "/api/agent"], ["GET", "/v2/health/live"], ["POST", "/v2/models/tiny/infer", inferBody]] as const) {
      const answer = await send(url, method, path, { ...JSON_TYPE, host: `attacker.example:${port}` }, body);
      expect({ path, status: answer.status, error: answer.error }).toEqual({ path, status: 403, error: expect.stringMatching(/^Host "attacker.example" is not a name this server answers to/) });
    }
  });

  it("refuses a repository load or an infer from a foreign Origin with 403", async () => {
    const load = await send(url, "POST", "/v2/repository/models/evil/load", { ...JSON_TYPE, origin: "http://attacker.example" }, JSON.stringify({ parameters: { config: "{}", "file:1/model.onnx": "AAAA" } }));
    expect(load).toMatchObject({ status: 403, error: expect.stringMatching(/^Origin http:\/\/attacker.example may not change this server/) });
    const infer = await send(url, "POST", "/v2/models/tiny/infer", { ...JSON_TYPE, origin: "http://attacker.example" }, inferBody);
    expect(infer.status).toBe(403);
  });

  it("refuses text/plain (a cross-site form or simple fetch) with 415, and infers the same body sent as JSON", async () => {
    const plain = await send(url, "POST", "/v2/models/tiny/infer", { "content-type": "text/plain" }, inferBody);
    expect(plain).toMatchObject({ status: 415, error: expect.stringMatching(/needs Content-Type: application\/json .*not text\/plain/) });
    const asJson = await send(url, "POST", "/v2/models/tiny/infer", { ...JSON_TYPE, origin: url }, inferBody);
    expect(asJson.status).toBe(200);
    expectClose((JSON.parse(asJson.body) as { outputs: { data: number[] }[] }).outputs[0].data, mlp.forward(x, 2));
  });
});

describe("evoflow agent with a token", () => {
  it("answers 401 without it and serves with it; probes stay open and the token is never printed", async () => {
    const { url, output } = await startAgent([], agentEnv({ EVOFLOW_AGENT_TOKEN: TOKEN }));
    const none = await send(url, "POST", "/v2/models/tiny/infer", JSON_TYPE, inferBody);
    expect(none).toMatchObject({ status: 401, error: expect.stringMatching(/needs a token.*EVOFLOW_AGENT_TOKEN/) });
    expect((await send(url, "GET", "/metrics", {})).status).toBe(401);
    expect((await send(url, "GET", "/api/agent", { authorization: "Bearer wrong-token-0123456789" })).status).toBe(401);
    expect((await send(url, "GET", "/v2/health/live", {})).status).toBe(200);
    const served = await send(url, "POST", "/v2/models/tiny/infer", { ...JSON_TYPE, authorization: `Bearer ${TOKEN}` }, inferBody);
    expect(served.status).toBe(200);
    expect(output()).toMatch(/token: from EVOFLOW_AGENT_TOKEN/);
    expect(output()).not.toContain(TOKEN);
  }, 60_000);

  it("refuses to listen beyond loopback without one (exit 2), before loading anything", async () => {
    const run = (args: string[]) =>
      new Promise<{ code: number; stderr: string }>((resolve) =>
        execFile(process.execPath, [join(root, "bin/evoflow.js"), "agent", "--memory", "64MB", "--port", "0", ...args], { cwd: tempDir("agent-cwd"), env: agentEnv() }, (err, _out, stderr) =>
          resolve({ code: err ? (err.code as number) : 0, stderr }),
        ),
      );
    expect(await run(["--host", "0.0.0.0"])).toEqual({ code: 2, stderr: expect.stringMatching(/^refusing to listen on 0.0.0.0 without a token: .*--token \(or EVOFLOW_AGENT_TOKEN\)/) });
  }, 60_000);
});

describe("roles, through the agent's own HTTP client (the Triton backend)", () => {
  let standIn: ModelHost;
  let app: FastifyInstance;
  let url: string;
  const clients: ModelHost[] = [];

  beforeAll(async () => {
    standIn = new ModelHost({ backend: new OnnxRuntimeBackend({ executionProvider: "cpu" }), memoryBytes: 64 * MB, cacheDir: tempDir("agent-access-standin") });
    app = await createAgentServer({ models: new LocalModels(standIn), host: standIn, access: { auth: { tokens: { [TOKEN]: "operator", [VIEWER]: "viewer" } } } });
    url = await app.listen({ port: 0, host: "127.0.0.1" });
  });

  afterAll(async () => {
    for (const c of clients) await c.close();
    await app?.close();
    await standIn?.close();
  });

  /** A host whose only backend is the agent above, reached with `token`: its first infer loads the model there. */
  async function inferThrough(token: string | undefined) {
    const client = new ModelHost({ backend: new TritonBackend({ url, token }), memoryBytes: 16 * MB, cacheDir: tempDir("agent-access-client") });
    clients.push(client);
    await client.assign({ name: "tiny", version: 1, artifact: mlp.bytes, memoryBytes: MB });
    return client.infer("tiny", 1, { input: { dtype: "float32", shape: [2, 4], data: x } });
  }

  it("sends the operator token: loads and infers", async () => {
    const out = await inferThrough(TOKEN);
    expectClose(out.output.data as Float32Array, mlp.forward(x, 2));
  });

  it("without a token the load gets 401; a viewer token may not load (403 naming the role)", async () => {
    await expect(inferThrough(undefined)).rejects.toThrow(/\/load: HTTP 401: this server needs a token/);
    await expect(inferThrough(VIEWER)).rejects.toThrow(/\/load: HTTP 403: POST \/v2\/repository\/models\/:name\/load needs role operator; this token has role viewer/);
  });

  it("a viewer may infer on a loaded model and read the repository index", async () => {
    const viewer = { ...JSON_TYPE, authorization: `Bearer ${VIEWER}` };
    const index = await send(url, "POST", "/v2/repository/index", viewer, "{}");
    expect(index.status).toBe(200);
    const loaded = (JSON.parse(index.body) as { name: string; state: string }[]).find((m) => m.state === "READY");
    expect(loaded).toBeDefined();
    const infer = await send(url, "POST", `/v2/models/${encodeURIComponent(loaded!.name)}/infer`, viewer, inferBody);
    expect(infer.status).toBe(200);
  });
});
