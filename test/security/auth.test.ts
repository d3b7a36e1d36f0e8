/**
 * Access to the HTTP/WebSocket API (runtime/api/auth.ts) against a real listening server,
 * with node:http for requests whose Host or Origin a browser page (or DNS rebinding) would
 * set — fetch drops a Host header — and a real `ws` client for upgrades.
 */
import { request as httpRequest } from "node:http";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { createApi, type ApiOptions } from "../../runtime/api/server";
import { formatPipeline } from "../../runtime/canonical";
import { Runtime } from "../../runtime/runtime";

const OPERATOR = "operator-token-0123456789abcdef";
const VIEWER = "viewer-token-0123456789abcdef";

const echo = (name: string) => ({
  apiVersion: "evoflow/v1",
  name,
  nodes: [
    { id: "in", type: "io.http" },
    { id: "tag", type: "transform.set", config: { set: { seen: true } } },
  ],
  edges: [{ from: "in.out", to: "tag.in" }],
});

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One request with exactly these headers (node:http sends the Host we give). */
function send(url: string, method: string, path: string, headers: Record<string, string>, body?: string | Buffer): Promise<Answer> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: u.hostname, port: u.port, method, path, headers: { host: u.host, ...headers } }, (res) => {
      let text = "";
      res.on("data", (d) => (text += d));
      res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, body: text }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

/** Opens a WebSocket and resolves with "open" or the HTTP status that refused it. */
function upgrade(url: string, options: WebSocket.ClientOptions): Promise<{ opened: true; socket: WebSocket } | { opened: false; status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, options);
    socket.once("open", () => resolve({ opened: true, socket }));
    // With this handler ws leaves the refused request to us: destroy it, or its socket stays open.
    socket.once("unexpected-response", (req, res) => {
      let text = "";
      res.on("data", (d) => (text += d));
      res.on("end", () => {
        req.destroy();
        resolve({ opened: false, status: res.statusCode!, body: text });
      });
    });
    socket.once("error", (err) => reject(err));
  });
}

const json = (a: Answer) => JSON.parse(a.body) as { error?: string };
const bearer = (t: string) => ({ authorization: `Bearer ${t}` });
const JSON_TYPE = { "content-type": "application/json" };

describe("API access with tokens and roles", () => {
  let runtime: Runtime;
  const apps: FastifyInstance[] = [];
  let url: string;

  async function start(options: Omit<ApiOptions, "runtime">): Promise<string> {
    const app = await createApi({ runtime, ...options });
    apps.push(app);
    return app.listen({ port: 0, host: "127.0.0.1" });
  }

  beforeAll(async () => {
    runtime = new Runtime({ dataDir: mkdtempSync(join(tmpdir(), "evoflow-auth-")) });
    url = await start({ auth: { tokens: { [OPERATOR]: "operator", [VIEWER]: "viewer" } }, allowHosts: ["evoflow.example.com"], allowOrigins: ["https://app.example.com"] });
    const deployed = await send(url, "POST", "/api/pipelines", { ...bearer(OPERATOR), ...JSON_TYPE }, JSON.stringify(echo("echo")));
    expect(deployed.status).toBe(201);
  });
  afterAll(async () => {
    for (const app of apps) await app.close();
    await runtime.close();
  });

  it("answers 401 without a token, with a wrong one, and with ?token= on a plain route", async () => {
    const none = await send(url, "GET", "/api/pipelines", {});
    expect(none.status).toBe(401);
    expect(none.headers["www-authenticate"]).toBe("Bearer");
    expect(json(none).error).toMatch(/needs a token: send Authorization: Bearer/);
    const wrong = await send(url, "GET", "/api/pipelines", bearer("not-the-token"));
    expect([wrong.status, json(wrong).error]).toEqual([401, "wrong token"]);
    const query = await send(url, "GET", `/api/pipelines?token=${OPERATOR}`, {});
    expect(query.status).toBe(401);
    expect(json(query).error).toMatch(/\?token= is accepted only on WebSocket upgrades .*Authorization: Bearer/);
    // Not even beside a good header: the URL is no place for it.
    expect((await send(url, "POST", `/pipelines/echo?token=${OPERATOR}`, { ...bearer(OPERATOR), ...JSON_TYPE }, "{}")).status).toBe(401);
    expect((await send(url, "GET", "/api/pipelines", bearer(OPERATOR))).status).toBe(200);
  });

  it("lets a viewer read and infer, and refuses its changes with 403 naming the role", async () => {
    const v = bearer(VIEWER);
    expect((await send(url, "GET", "/api/pipelines", v)).status).toBe(200);
    expect((await send(url, "GET", "/api/pipelines/echo/status", v)).status).toBe(200);
    expect((await send(url, "GET", "/metrics", v)).status).toBe(200);
    const inferred = await send(url, "POST", "/pipelines/echo", { ...v, ...JSON_TYPE }, JSON.stringify({ x: 1 }));
    expect([inferred.status, JSON.parse(inferred.body)]).toEqual([200, { x: 1, seen: true }]);
    const oip = await send(url, "POST", "/v2/models/echo/infer", { ...v, ...JSON_TYPE }, JSON.stringify({ inputs: [{ name: "a", shape: [1], datatype: "FP32", data: [1] }, { name: "b", shape: [1], datatype: "FP32", data: [2] }] }));
    expect(oip.status).toBe(200);
    expect((await send(url, "POST", "/api/validate", { ...v, ...JSON_TYPE }, JSON.stringify(echo("other")))).status).toBe(200);
    expect((await send(url, "POST", "/api/nodes/control.join/ports", { ...v, ...JSON_TYPE }, JSON.stringify({ config: { inputs: ["a", "b"] } }))).status).toBe(200);
    // The editor's export: the canonical text, as evoflow fmt writes it; a body that is no pipeline is a 400.
    const formatted = await send(url, "POST", "/api/format", { ...v, ...JSON_TYPE }, JSON.stringify(echo("other")));
    expect([formatted.status, (JSON.parse(formatted.body) as { text: string }).text]).toEqual([200, formatPipeline(echo("other"))]);
    const notPipeline = await send(url, "POST", "/api/format", { ...v, ...JSON_TYPE }, "[1]");
    expect([notPipeline.status, json(notPipeline).error]).toEqual([400, "the body must be a pipeline (a JSON object)"]);

    const deploy = await send(url, "POST", "/api/pipelines", { ...v, ...JSON_TYPE }, JSON.stringify(echo("sneaky")));
    expect(deploy.status).toBe(403);
    expect(json(deploy)).toEqual({ error: "POST /api/pipelines needs role operator; this token has role viewer" });
    const stop = await send(url, "DELETE", "/api/pipelines/echo", v);
    expect([stop.status, json(stop).error]).toEqual([403, "DELETE /api/pipelines/:name needs role operator; this token has role viewer"]);
    expect(runtime.list().map((p) => p.name)).toEqual(["echo"]);
  });

  it("opens health to probes without a token, /metrics only when told", async () => {
    expect((await send(url, "GET", "/v2/health/live", {})).status).toBe(200);
    expect((await send(url, "GET", "/v2/health/ready", {})).status).toBe(200);
    expect((await send(url, "GET", "/v2", {})).status).toBe(401);
    expect((await send(url, "GET", "/metrics", {})).status).toBe(401);
    const scraped = await start({ auth: { tokens: { [OPERATOR]: "operator" }, openMetrics: true, openHealth: false } });
    const metrics = await send(scraped, "GET", "/metrics", {});
    expect(metrics.status).toBe(200);
    expect(metrics.body).toContain("evoflow_");
    expect((await send(scraped, "GET", "/v2/health/live", {})).status).toBe(401);
  });

  it("refuses a foreign Host on HTTP routes and WebSocket upgrades, even with a good token", async () => {
    const port = new URL(url).port;
    const rebinding = await send(url, "POST", "/api/pipelines", { ...bearer(OPERATOR), ...JSON_TYPE, host: `attacker.example:${port}` }, JSON.stringify(echo("rebound")));
    expect(rebinding.status).toBe(403);
    expect(json(rebinding).error).toMatch(/^Host "attacker.example" is not a name this server answers to/);
    expect((await send(url, "GET", "/v2/health/live", { host: "attacker.example" })).status).toBe(403);
    expect(runtime.get("rebound")).toBeUndefined();
    for (const host of [`localhost:${port}`, `127.0.0.1:${port}`, `editor.localhost:${port}`, "evoflow.example.com", `[::1]:${port}`])
      expect((await send(url, "GET", "/api/pipelines", { ...bearer(OPERATOR), host })).status, host).toBe(200);

    const live = `${url.replace("http", "ws")}/api/pipelines/echo/edges/in_out-tag_in/live`;
    const refused = await upgrade(live, { headers: { ...bearer(OPERATOR), host: `attacker.example:${port}` } });
    expect(refused).toMatchObject({ opened: false, status: 403 });
    expect(JSON.parse((refused as { body: string }).body).error).toMatch(/^Host "attacker.example"/);
  });

  it("refuses a foreign Origin on changes and on WebSocket upgrades", async () => {
    const port = new URL(url).port;
    const evil = await send(url, "POST", "/pipelines/echo", { ...bearer(OPERATOR), ...JSON_TYPE, origin: "http://evil.example" }, "{}");
    expect(evil.status).toBe(403);
    expect(json(evil).error).toBe("Origin http://evil.example may not change this server (start it with --allow-origin http://evil.example if it should)");
    // Same host, other port: another origin.
    expect((await send(url, "POST", "/pipelines/echo", { ...bearer(OPERATOR), ...JSON_TYPE, origin: "http://127.0.0.1:1" }, "{}")).status).toBe(403);
    expect((await send(url, "POST", "/pipelines/echo", { ...bearer(OPERATOR), ...JSON_TYPE, origin: "null" }, "{}")).status).toBe(403);
    expect((await send(url, "POST", "/pipelines/echo", { ...bearer(OPERATOR), ...JSON_TYPE, origin: `http://127.0.0.1:${port}` }, "{}")).status).toBe(200);
    expect((await send(url, "POST", "/pipelines/echo", { ...bearer(OPERATOR), ...JSON_TYPE, origin: "https://app.example.com" }, "{}")).status).toBe(200);
    // A read with a foreign Origin is answered: the page cannot read it without CORS headers, which we never send.
    const read = await send(url, "GET", "/api/pipelines", { ...bearer(OPERATOR), origin: "http://evil.example" });
    expect([read.status, read.headers["access-control-allow-origin"]]).toEqual([200, undefined]);

    const live = `${url.replace("http", "ws")}/api/pipelines/echo/edges/in_out-tag_in/live?token=${OPERATOR}`;
    const foreign = await upgrade(live, { origin: "http://evil.example" });
    expect(foreign).toMatchObject({ opened: false, status: 403 });
    expect(JSON.parse((foreign as { body: string }).body).error).toMatch(/may not open WebSockets/);

    const own = await upgrade(live, { origin: `http://127.0.0.1:${port}` });
    if (!own.opened) throw new Error(`own origin refused: ${own.status} ${own.body}`);
    const message = new Promise<unknown>((resolve) => own.socket.on("message", (d) => {
      const parsed = JSON.parse(String(d)) as { message?: unknown };
      if (parsed.message) resolve(parsed.message);
    }));
    await send(url, "POST", "/pipelines/echo", { ...bearer(VIEWER), ...JSON_TYPE }, JSON.stringify({ live: 1 }));
    expect(await message).toMatchObject({ payload: { live: 1 } });
    own.socket.close();
  });

  it("asks WebSocket upgrades for a token too: header or ?token=", async () => {
    const live = `${url.replace("http", "ws")}/api/pipelines/echo/edges/in_out-tag_in/live`;
    expect(await upgrade(live, {})).toMatchObject({ opened: false, status: 401 });
    expect(await upgrade(`${live}?token=wrong`, {})).toMatchObject({ opened: false, status: 401 });
    const byHeader = await upgrade(live, { headers: bearer(VIEWER) });
    expect(byHeader.opened).toBe(true);
    if (byHeader.opened) byHeader.socket.close();
  });

  it("answers 415 to changes that are not JSON, so no simple cross-site request gets through", async () => {
    const o = bearer(OPERATOR);
    for (const [path, type] of [
      ["/api/pipelines", "text/plain"],
      ["/pipelines/echo", "text/plain"],
      ["/pipelines/echo", "text/plain;charset=UTF-8"],
      ["/v2/models/echo/infer", "text/plain"],
      ["/pipelines/echo", "application/x-www-form-urlencoded"],
      ["/pipelines/echo", "multipart/form-data; boundary=x"],
      ["/pipelines/echo", "application/octet-stream"],
    ]) {
      const res = await send(url, "POST", path, { ...o, "content-type": type }, '{"x": 1}');
      expect(res.status, `${path} ${type}`).toBe(415);
      expect(json(res).error).toMatch(/^POST needs Content-Type: application\/json/);
    }
    const none = await send(url, "POST", "/pipelines/echo", o, '{"x": 1}');
    expect([none.status, json(none).error]).toEqual([415, "POST needs Content-Type: application/json, not none"]);
    const empty = await send(url, "POST", "/v2/repository/index", o);
    expect(empty.status).toBe(415);
    // The binary tensor extension is octet-stream, on the infer routes only (here: a bad body, but not refused for its type).
    expect((await send(url, "POST", "/v2/models/echo/infer", { ...o, "content-type": "application/octet-stream" }, "{}")).status).not.toBe(415);
    // A DELETE without a body needs no content type (a cross-site page cannot send one without a preflight).
    const other = await send(url, "POST", "/api/pipelines", { ...o, ...JSON_TYPE }, JSON.stringify(echo("short-lived")));
    expect(other.status).toBe(201);
    expect((await send(url, "DELETE", "/api/pipelines/short-lived", o)).status).toBe(200);
    expect((await send(url, "DELETE", "/api/pipelines/echo", { ...o, "content-type": "text/plain" }, "x")).status).toBe(415);
  });

  it("trades ?token= on the editor's first page for an HttpOnly SameSite=Strict cookie and a clean URL", async () => {
    const first = await send(url, "GET", `/?token=${OPERATOR}&x=1`, {});
    expect(first.status).toBe(302);
    expect(first.headers.location).toBe("/?x=1");
    const cookie = String(first.headers["set-cookie"]);
    expect(cookie).toMatch(/^evoflow-token-\d+=[^;]+; Path=\/; HttpOnly; SameSite=Strict/);
    const jar = cookie.split(";")[0];
    expect((await send(url, "GET", "/api/pipelines", { cookie: jar })).status).toBe(200);
    expect((await send(url, "POST", "/pipelines/echo", { cookie: jar, ...JSON_TYPE }, "{}")).status).toBe(200);
    // The cookie of another port's runtime is not ours.
    expect((await send(url, "GET", "/api/pipelines", { cookie: jar.replace(/^evoflow-token-\d+/, "evoflow-token-1") })).status).toBe(401);
    expect((await send(url, "GET", "/?token=wrong", {})).status).toBe(401);
    expect((await send(url, "GET", `/assets/x.js?token=${OPERATOR}`, {})).status).toBe(401);
    // The editor's files need no token: they hold no data, and the page then asks for one.
    expect((await send(url, "GET", "/", {})).status).toBe(200);
  });

  it("without auth asks for no token but still checks Host, Origin and content type", async () => {
    const open = await start({});
    const port = new URL(open).port;
    expect((await send(open, "GET", "/api/pipelines", {})).status).toBe(200);
    expect((await send(open, "POST", "/pipelines/echo", JSON_TYPE, "{}")).status).toBe(200);
    expect((await send(open, "GET", "/api/pipelines", { host: "attacker.example" })).status).toBe(403);
    expect((await send(open, "POST", "/pipelines/echo", { ...JSON_TYPE, origin: "http://evil.example" }, "{}")).status).toBe(403);
    expect((await send(open, "POST", "/pipelines/echo", { "content-type": "text/plain" }, "{}")).status).toBe(415);
    const ws = await upgrade(`ws://127.0.0.1:${port}/api/pipelines/echo/edges/in_out-tag_in/live`, { origin: "http://evil.example" });
    expect(ws).toMatchObject({ opened: false, status: 403 });
  });

  it("turns the Host check off only with *", async () => {
    const any = await start({ auth: { tokens: { [OPERATOR]: "operator" } }, allowHosts: ["*"] });
    expect((await send(any, "GET", "/api/pipelines", { ...bearer(OPERATOR), host: "anything.example" })).status).toBe(200);
    const sub = await start({ auth: { tokens: { [OPERATOR]: "operator" } }, allowHosts: ["*.example.org"] });
    expect((await send(sub, "GET", "/api/pipelines", { ...bearer(OPERATOR), host: "evoflow.example.org" })).status).toBe(200);
    expect((await send(sub, "GET", "/api/pipelines", { ...bearer(OPERATOR), host: "example.org.evil" })).status).toBe(403);
  });
});
