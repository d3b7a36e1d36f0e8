/**
 * Who may use the API, in one onRequest hook on every HTTP route and every WebSocket
 * upgrade (@fastify/websocket routes upgrades through fastify, so its hooks run too).
 * In order, each step refusing with a JSON `{"error"}`:
 *
 * 1. Host: only the names this server is reachable by — loopback names (localhost,
 *    *.localhost, 127.0.0.1, [::1]), the address the connection arrived on, the name it
 *    was bound to, and `allowHosts` (`*` turns the check off, `*.example.com` matches
 *    subdomains). A DNS-rebinding page reaches us under its own name, so it stops here: 403.
 * 2. Origin: a state-changing request (not GET/HEAD/OPTIONS) or a WebSocket upgrade whose
 *    Origin is present must come from the server's own origin (Origin's host:port equals
 *    the Host header; the scheme is not compared, so a TLS proxy in front works, as in
 *    Jupyter) or from `allowOrigins`: 403. Requests without Origin (curl, the CLI) pass.
 * 3. Token (when `auth` is set): `Authorization: Bearer <token>`, or the editor's cookie
 *    (set on its first load from `/?token=...`, which then redirects to the URL without
 *    it), or `?token=` on a WebSocket upgrade only; `?token=` on any other route is 401,
 *    so tokens stay out of logs and history. Tokens are kept as SHA-256 digests and
 *    compared with timingSafeEqual, so neither their bytes nor their lengths leak.
 * 4. Role: `requiredRole` below, the one table of what a viewer may do: 403 naming it.
 * 5. Content type: POST/PUT/PATCH (and a DELETE with a body) must say application/json,
 *    or application/octet-stream on the OIP infer routes (binary tensor extension); no
 *    cross-site "simple" request (text/plain, forms, multipart, or none) can pass: 415.
 */
import { hash, timingSafeEqual } from "node:crypto";
import { isIP } from "node:net";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";

export const ROLES = ["viewer", "operator"] as const;
export type Role = (typeof ROLES)[number];

export interface AuthOptions {
  /** Plain tokens and their roles (the generated or `--token` one is "operator"). */
  tokens: Record<string, Role>;
  /** Tokens known only by their SHA-256 (hex), as a settings file may list them. */
  tokenSha256?: Record<string, Role>;
  /** Let `/metrics` be scraped without a token (default false). */
  openMetrics?: boolean;
  /** Let `/v2/health/live` and `/ready` answer without a token (default true: probes need it, it reveals nothing). */
  openHealth?: boolean;
  /** Where a client without a token finds one, for the 401's message (default: the runtime's). */
  tokenHint?: string;
}

export interface GuardOptions {
  /** Absent: no token is asked for (`--no-auth`, loopback only); the other checks still apply. */
  auth?: AuthOptions;
  /** Extra Host names (`--allow-host`); `*` accepts any, `*.example.com` its subdomains. */
  allowHosts?: readonly string[];
  /** Extra origins allowed to change things or open sockets (`--allow-origin`), e.g. `https://app.example.com`; `*` any. */
  allowOrigins?: readonly string[];
  /** The address or name the server listens on; a name (not 0.0.0.0) is accepted as a Host. */
  boundHost?: string;
}

type Need = Role | "public";

// POST routes a viewer may use: those that change nothing (inference, validation, and the editor's port
// preview, export and Node-RED import), and labelling (a viewer may post labels to a pipeline's entry
// point, so a labeler needs no more: nodes/sampler/label-api.ts).
const VIEWER_POSTS = new Set([
  "/pipelines/:name",
  "/v2/models/:name/infer",
  "/v2/models/:name/versions/:version/infer",
  "/v2/repository/index",
  "/api/validate",
  "/api/nodes/:type/ports",
  "/api/format",
  "/api/import/node-red",
  "/api/label-queues/:queue/next",
  "/api/label-queues/:queue/items/:id/label",
  "/api/label-queues/:queue/items/:id/skip",
]);
const BINARY_ROUTES = new Set(["/v2/models/:name/infer", "/v2/models/:name/versions/:version/infer"]);
const HEALTH_ROUTES = new Set(["/v2/health/live", "/v2/health/ready"]);
// The editor's static files (fastify-static's wildcard, or the "not built" page): no data in them.
const EDITOR_ROUTES = new Set(["/", "/*"]);
const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/** What a request needs, by its route pattern: reads are viewer, changes operator, with the exceptions above. */
export function requiredRole(method: string, route: string | undefined, auth: AuthOptions): Need {
  if (SAFE_METHODS.has(method)) {
    if (route !== undefined && EDITOR_ROUTES.has(route)) return "public";
    if (route !== undefined && HEALTH_ROUTES.has(route) && auth.openHealth !== false) return "public";
    if (route === "/metrics" && auth.openMetrics) return "public";
    return "viewer";
  }
  return route !== undefined && VIEWER_POSTS.has(route) ? "viewer" : "operator";
}

// crypto.hash: one call, no Hash object per request (Node ≥ 20.12).
const digest = (token: string) => hash("sha256", token, "buffer");

/** Tokens by digest; `roleOf` compares against every entry in constant time. */
export class TokenTable {
  private readonly entries: { digest: Buffer; role: Role }[] = [];
  /**
   * Tokens already found valid, as presented: clients send the same token on every request, and
   * its SHA-256 was ~2 µs of the ~5 µs these checks cost a request. A miss takes the constant-time
   * path as before; a hit says only that the token is valid, which the answer says anyway (and a
   * Map compares a string's whole hash before any character, so a near guess is no faster).
   */
  private readonly known = new Map<string, Role>();

  constructor(auth: AuthOptions) {
    for (const [token, role] of Object.entries(auth.tokens)) this.entries.push({ digest: digest(token), role });
    for (const [hex, role] of Object.entries(auth.tokenSha256 ?? {})) {
      if (!/^[0-9a-f]{64}$/i.test(hex)) throw new Error(`tokenSha256 "${hex.slice(0, 8)}…" is not 64 hex digits`);
      this.entries.push({ digest: Buffer.from(hex, "hex"), role });
    }
    if (this.entries.length === 0) throw new Error("auth needs at least one token");
  }

  roleOf(token: string): Role | undefined {
    const seen = this.known.get(token);
    if (seen !== undefined) return seen;
    const candidate = digest(token);
    let found: Role | undefined;
    // No early exit: the time taken does not say which entry matched, or whether one did.
    for (const e of this.entries) if (timingSafeEqual(e.digest, candidate) && found === undefined) found = e.role;
    // Only valid tokens enter it, so it holds about as many entries as the table; the bound is a guard.
    if (found !== undefined && this.known.size < 1024) this.known.set(token, found);
    return found;
  }
}

/** `host[:port]` or `[v6]:port` → the lower-case name without brackets or port. */
function hostName(host: string): string {
  const h = host.toLowerCase();
  if (h.startsWith("[")) return h.slice(1, h.indexOf("]"));
  const colon = h.indexOf(":");
  return colon === -1 ? h : h.slice(0, colon);
}

const LOOPBACK_NAMES = new Set(["localhost", "127.0.0.1", "::1"]);
const unmapped = (address: string | undefined) => (address?.startsWith("::ffff:") ? address.slice(7) : address);

function hostMatcher(options: GuardOptions): (name: string, socket: { localAddress?: string }) => boolean {
  const extra = (options.allowHosts ?? []).map((h) => h.toLowerCase());
  if (extra.includes("*")) return () => true;
  const exact = new Set([...LOOPBACK_NAMES, ...extra.filter((h) => !h.startsWith("*.")).map(hostName)]);
  const suffixes = extra.filter((h) => h.startsWith("*.")).map((h) => h.slice(1));
  const bound = options.boundHost?.toLowerCase();
  if (bound && bound !== "0.0.0.0" && bound !== "::") exact.add(hostName(bound.includes(":") && isIP(bound) === 6 ? `[${bound}]` : bound));
  return (name, socket) =>
    exact.has(name) ||
    name.endsWith(".localhost") ||
    // An IP literal the connection really arrived on: a rebinding page cannot send it as its Host.
    // (Read last: localAddress asks the kernel each time.)
    (isIP(name) !== 0 && name === unmapped(socket.localAddress)) ||
    suffixes.some((s) => name.endsWith(s));
}

/** The editor's cookie, one per port: two runtimes on one machine share cookies across ports. */
export const cookieName = (host: string) => `evoflow-token-${/:(\d+)$/.exec(host)?.[1] ?? "default"}`;

// One cookie read by name; a cookie library for this would be a dependency for ten lines.
function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq !== -1 && part.slice(0, eq).trim() === name) {
      try {
        return decodeURIComponent(part.slice(eq + 1).trim());
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}

/** The token of an `Authorization: Bearer <token>` header (HTTP, or gRPC metadata). */
export function bearer(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return m?.[1];
}

const pathOf = (url: string) => url.split("?")[0];

const mediaType = (header: string | undefined) => header?.split(";")[0].trim().toLowerCase();

const refuse = (reply: FastifyReply, status: number, error: string) => {
  // A refused WebSocket upgrade's socket has left the HTTP server's bookkeeping: close it
  // with the answer, or it stays open (and `app.close()` waits for it).
  if (reply.request.headers.upgrade) {
    const socket = reply.request.raw.socket;
    reply.header("connection", "close").raw.once("finish", () => socket.end(() => socket.destroy()));
  }
  return reply.status(status).header("content-type", "application/json; charset=utf-8").send(JSON.stringify({ error }));
};

/** The checks described above, for one request: the reply when refused (its answer sent), else undefined. */
export type AccessCheck = (req: FastifyRequest, reply: FastifyReply) => FastifyReply | undefined;

export function accessCheck(options: GuardOptions): AccessCheck {
  const hostAllowed = hostMatcher(options);
  const anyOrigin = options.allowOrigins?.includes("*") ?? false;
  const origins = new Set((options.allowOrigins ?? []).map((o) => o.toLowerCase().replace(/\/$/, "")));
  const tokens = options.auth ? new TokenTable(options.auth) : undefined;
  const auth = options.auth;

  return (req, reply) => {
    // The raw headers once: fastify's `headers` is a getter, read ten times here.
    const headers = req.raw.headers;
    const host = headers.host;
    if (!host) return refuse(reply, 403, "the request has no Host header");
    const name = hostName(host);
    if (!hostAllowed(name, req.socket))
      return refuse(reply, 403, `Host "${name}" is not a name this server answers to (start it with --allow-host ${name} if it should)`);

    const upgrade = headers.upgrade?.toLowerCase() === "websocket";
    const changes = !SAFE_METHODS.has(req.method);
    const origin = headers.origin;
    if ((changes || upgrade) && origin !== undefined && !anyOrigin && !origins.has(origin.toLowerCase())) {
      let own = false;
      try {
        own = new URL(origin).host === new URL(`http://${host}`).host;
      } catch {
        // "null" (sandboxed frames, file:) or garbage: not our origin
      }
      if (!own) return refuse(reply, 403, `Origin ${origin} may not ${upgrade ? "open WebSockets on" : "change"} this server (start it with --allow-origin ${origin} if it should)`);
    }

    const route = req.routeOptions.url;
    if (auth && tokens) {
      const need = requiredRole(req.method, route, auth);
      const query = (req.query as Record<string, unknown> | undefined)?.token;
      const queryToken = typeof query === "string" ? query : undefined;
      if (queryToken !== undefined && !upgrade) {
        // The editor's first load: trade the URL's token for a cookie and drop it from the address bar.
        if (req.method === "GET" && route !== undefined && EDITOR_ROUTES.has(route) && (pathOf(req.url) === "/" || pathOf(req.url).endsWith(".html"))) {
          if (!tokens.roleOf(queryToken)) return refuse(reply, 401, "the token in this URL is wrong: open the URL `evoflow run` printed");
          const params = new URLSearchParams(req.url.slice(req.url.indexOf("?") + 1));
          params.delete("token");
          const rest = params.toString();
          const secure = headers["x-forwarded-proto"] === "https" ? "; Secure" : "";
          return reply
            .status(302)
            .header("set-cookie", `${cookieName(host)}=${encodeURIComponent(queryToken)}; Path=/; HttpOnly; SameSite=Strict; Max-Age=2592000${secure}`)
            .header("cache-control", "no-store")
            .header("location", `${pathOf(req.url)}${rest ? `?${rest}` : ""}`)
            .send();
        }
        return refuse(reply, 401, "?token= is accepted only on WebSocket upgrades and the editor's first page: send the header Authorization: Bearer <token>");
      }
      if (need !== "public") {
        const given = bearer(headers.authorization) ?? readCookie(headers.cookie, cookieName(host)) ?? (upgrade ? queryToken : undefined);
        const role = given === undefined ? undefined : tokens.roleOf(given);
        if (!role) {
          reply.header("www-authenticate", "Bearer");
          return refuse(reply, 401, given === undefined ? `this server needs a token: send Authorization: Bearer <token> (${auth.tokenHint ?? "evoflow run prints it; the CLI reads <data>/token"})` : "wrong token");
        }
        if (need === "operator" && role !== "operator") return refuse(reply, 403, `${req.method} ${route ?? pathOf(req.url)} needs role operator; this token has role ${role}`);
      }
    }

    if (changes) {
      const type = mediaType(headers["content-type"]);
      const hasBody = headers["content-length"] !== undefined ? headers["content-length"] !== "0" : headers["transfer-encoding"] !== undefined;
      const ok = type === "application/json" || (type === "application/octet-stream" && route !== undefined && BINARY_ROUTES.has(route));
      // A DELETE carries no body and cannot be sent cross-site without a preflight; every other change must say JSON.
      if (!ok && (req.method !== "DELETE" || hasBody || type !== undefined))
        return refuse(reply, 415, `${req.method} needs Content-Type: application/json${route !== undefined && BINARY_ROUTES.has(route) ? " (or application/octet-stream with the binary tensor extension)" : ""}, not ${type ?? "none"}`);
    }
    return undefined;
  };
}

/** Adds the checks to `app` (call before registering routes, so every scope inherits them). */
export function addAccessChecks(app: FastifyInstance, options: GuardOptions): void {
  const check = accessCheck(options);
  // Synchronous, and a callback hook rather than an async one: no promise on every request's path.
  // A refused request has its answer sent; fastify goes on only when `done` is called.
  app.addHook("onRequest", (req, reply, done) => {
    if (!check(req, reply)) done();
  });
}
