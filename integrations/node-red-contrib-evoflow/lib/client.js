/**
 * HTTP to one Evoflow runtime or agent: JSON requests over a keep-alive agent (one per
 * config node, so a flow sending many messages reuses a few connections instead of
 * opening one per message), and the WebSocket URL of a route with the token in it.
 */
"use strict";
const http = require("node:http");
const https = require("node:https");

/** An answer outside 2xx: the runtime's JSON error body (`{ error, ... }`) kept as `body`. */
class EvoflowHttpError extends Error {
  constructor(method, path, status, body) {
    const reason = body && typeof body === "object" && typeof body.error === "string" ? body.error : typeof body === "string" && body ? body : "no reason given";
    super(`${method} ${path}: ${status} ${reason}`);
    this.status = status;
    this.body = body;
  }
}

function parseBody(text, contentType) {
  if (text === "") return undefined;
  if (/^application\/(.+\+)?json/i.test(contentType || "")) {
    try {
      return JSON.parse(text);
    } catch {
      return text;
    }
  }
  return text;
}

class EvoflowClient {
  /** @param {string} url the runtime's base URL, e.g. http://127.0.0.1:8080 @param {string | undefined} token */
  constructor(url, token) {
    const base = new URL(url);
    if (base.protocol !== "http:" && base.protocol !== "https:") throw new Error(`the Evoflow URL must be http: or https:, not ${base.protocol}`);
    this.base = base;
    this.token = token || undefined;
    this.transport = base.protocol === "https:" ? https : http;
    this.agent = new this.transport.Agent({ keepAlive: true, maxSockets: 32 });
  }

  /** `path` below the base URL (a base with a path prefix, as behind a proxy, keeps it). */
  resolve(path) {
    const prefix = this.base.pathname.replace(/\/$/, "");
    return new URL(prefix + path, this.base);
  }

  /**
   * POST `body` as JSON; resolves `{ status, headers, body }` for a 2xx answer and rejects
   * with an EvoflowHttpError (status and the runtime's error body) for any other.
   */
  postJson(path, body, { timeoutMs = 60000, headers = {} } = {}) {
    const url = this.resolve(path);
    let data;
    try {
      data = JSON.stringify(body === undefined ? null : body);
    } catch (err) {
      return Promise.reject(new Error(`msg.payload cannot be sent as JSON: ${err.message}`));
    }
    const head = { "content-type": "application/json", accept: "application/json", "content-length": Buffer.byteLength(data), ...headers };
    if (this.token) head.authorization = `Bearer ${this.token}`;
    return new Promise((resolve, reject) => {
      const req = this.transport.request(url, { method: "POST", headers: head, agent: this.agent, timeout: timeoutMs }, (res) => {
        const chunks = [];
        res.on("data", (c) => chunks.push(c));
        res.on("error", reject);
        res.on("end", () => {
          const parsed = parseBody(Buffer.concat(chunks).toString("utf8"), res.headers["content-type"]);
          if (res.statusCode >= 200 && res.statusCode < 300) resolve({ status: res.statusCode, headers: res.headers, body: parsed });
          else reject(new EvoflowHttpError("POST", url.pathname, res.statusCode, parsed));
        });
      });
      req.on("timeout", () => req.destroy(new Error(`POST ${url.pathname}: no answer within ${timeoutMs} ms`)));
      req.on("error", reject);
      req.end(data);
    });
  }

  /**
   * The ws:/wss: URL of a WebSocket route. The token goes in `?token=`: browsers cannot set
   * headers on an upgrade, so it is the one place the runtime accepts a token in the URL.
   */
  socketUrl(path, query = {}) {
    const url = this.resolve(path);
    url.protocol = this.base.protocol === "https:" ? "wss:" : "ws:";
    for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== "") url.searchParams.set(k, String(v));
    if (this.token) url.searchParams.set("token", this.token);
    return url.toString();
  }

  close() {
    this.agent.destroy();
  }
}

module.exports = { EvoflowClient, EvoflowHttpError };
