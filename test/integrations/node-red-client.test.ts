/**
 * The palette package's HTTP client (integrations/node-red-contrib-evoflow/lib/client.js)
 * against a real HTTP server on loopback: connections are kept alive across messages, the
 * server's error body is kept, and WebSocket URLs carry the token.
 */
import { createServer, type Server } from "node:http";
import { createRequire } from "node:module";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const require = createRequire(import.meta.url);
const { EvoflowClient } = require("../../integrations/node-red-contrib-evoflow/lib/client.js");

describe("the palette's Evoflow client", () => {
  let server: Server;
  let base: string;
  let connections = 0;
  const seen: { url: string; authorization?: string; type?: string; body: string }[] = [];

  beforeAll(async () => {
    server = createServer((req, res) => {
      let body = "";
      req.on("data", (c) => (body += c));
      req.on("end", () => {
        seen.push({ url: req.url!, authorization: req.headers.authorization, type: req.headers["content-type"], body });
        if (req.url!.endsWith("/fail")) {
          res.writeHead(422, { "content-type": "application/json; charset=utf-8" });
          return res.end(JSON.stringify({ error: "node stats failed", node: "stats", port: "in" }));
        }
        if (req.url!.endsWith("/text")) {
          res.writeHead(502, { "content-type": "text/plain" });
          return res.end("bad gateway");
        }
        res.writeHead(200, { "content-type": "application/json" });
        res.end(body);
      });
    });
    server.on("connection", () => connections++);
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it("sends many messages over one kept-alive connection", async () => {
    const client = new EvoflowClient(base, "t0k");
    const before = connections;
    for (let i = 0; i < 20; i++) expect((await client.postJson("/pipelines/hello", { i })).body).toEqual({ i });
    expect(connections - before).toBe(1);
    expect(seen.at(-1)).toEqual({ url: "/pipelines/hello", authorization: "Bearer t0k", type: "application/json", body: '{"i":19}' });
    client.close();
  });

  it("rejects an answer outside 2xx with its status and the server's error body", async () => {
    const client = new EvoflowClient(`${base}/behind/proxy/`, undefined);
    await expect(client.postJson("/pipelines/fail", { x: 1 })).rejects.toMatchObject({
      message: "POST /behind/proxy/pipelines/fail: 422 node stats failed",
      status: 422,
      body: { error: "node stats failed", node: "stats", port: "in" },
    });
    await expect(client.postJson("/text", 1)).rejects.toMatchObject({ message: "POST /behind/proxy/text: 502 bad gateway", status: 502, body: "bad gateway" });
    // No token configured: no Authorization header at all.
    expect(seen.at(-1)!.authorization).toBeUndefined();
    await expect(client.postJson("/x", { big: 10n })).rejects.toThrow("msg.payload cannot be sent as JSON");
    client.close();
  });

  it("puts the token in WebSocket URLs only, and refuses a URL that is not HTTP", () => {
    const client = new EvoflowClient("https://evoflow.example.com/base", "a b");
    expect(client.socketUrl("/api/pipelines/p/edges/e/live", { perSecond: 20 })).toBe("wss://evoflow.example.com/base/api/pipelines/p/edges/e/live?perSecond=20&token=a+b");
    client.close();
    expect(() => new EvoflowClient("ftp://host", "t")).toThrow("the Evoflow URL must be http: or https:, not ftp:");
  });
});
