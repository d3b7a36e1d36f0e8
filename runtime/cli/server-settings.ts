/**
 * The server's settings file, `<data>/settings.json` (all keys optional):
 *
 *   {
 *     "tokens": [                                  more tokens beside the operator one
 *       { "token": "…", "role": "viewer" },         the token itself (keep the file 0600)
 *       { "tokenFile": "viewer.token", "role": "viewer" },   a file holding it (relative to <data>)
 *       { "tokenSha256": "<64 hex>", "role": "operator" }     only its SHA-256, so the file holds no secret
 *     ],
 *     "openMetrics": false,    /metrics without a token, for a Prometheus scraper
 *     "openHealth": true,      /v2/health/live and /ready without a token, for probes
 *     "allowHosts": [],        as --allow-host (the flags add to these)
 *     "allowOrigins": [],      as --allow-origin
 *     "grants": ["fs-write", "network"]   capabilities granted to nodes, unless --grant is given
 *     "python": "python3"      the interpreter of Python nodes' workers (else EVOFLOW_PYTHON, else python3)
 *   }
 *
 * A bad file stops the server with every problem and its JSON path.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { z } from "zod";
import { ROLES, type Role } from "../api/auth";
import { CAPABILITIES, type Capability } from "../../sdk/contract";

const tokenEntry = z
  .object({
    token: z.string().min(16, "a token needs at least 16 characters").optional(),
    tokenFile: z.string().min(1).optional(),
    tokenSha256: z.string().regex(/^[0-9a-fA-F]{64}$/, "64 hex digits (sha256sum of the token)").optional(),
    role: z.enum(ROLES),
  })
  .strict()
  .refine((t) => [t.token, t.tokenFile, t.tokenSha256].filter((v) => v !== undefined).length === 1, "give exactly one of token, tokenFile, tokenSha256");

const settingsSchema = z
  .object({
    tokens: z.array(tokenEntry).default([]),
    openMetrics: z.boolean().default(false),
    openHealth: z.boolean().default(true),
    allowHosts: z.array(z.string().min(1)).default([]),
    allowOrigins: z.array(z.string().min(1)).default([]),
    grants: z.array(z.enum(CAPABILITIES)).optional(),
    python: z.string().min(1).optional(),
  })
  .strict();

export interface ServerSettings {
  tokens: Record<string, Role>;
  tokenSha256: Record<string, Role>;
  openMetrics: boolean;
  openHealth: boolean;
  allowHosts: string[];
  allowOrigins: string[];
  grants?: Capability[];
  python?: string;
}

export class SettingsError extends Error {}

const jsonPath = (p: PropertyKey[]) => `$${p.map((k) => (typeof k === "number" ? `[${k}]` : `.${String(k)}`)).join("")}`;

export const settingsFile = (dataDir: string) => path.join(dataDir, "settings.json");

/** Reads `<data>/settings.json` (defaults when it does not exist); throws SettingsError listing every problem. */
export function loadServerSettings(dataDir: string): ServerSettings {
  const file = settingsFile(dataDir);
  let raw: unknown = {};
  try {
    raw = JSON.parse(readFileSync(file, "utf8"));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw new SettingsError(`${file}: ${(err as Error).message}`);
  }
  const parsed = settingsSchema.safeParse(raw);
  if (!parsed.success) throw new SettingsError(parsed.error.issues.map((i) => `${file}: ${jsonPath(i.path)}: ${i.message}`).join("\n"));
  const s = parsed.data;
  const tokens: Record<string, Role> = {};
  const tokenSha256: Record<string, Role> = {};
  s.tokens.forEach((t, i) => {
    if (t.token) tokens[t.token] = t.role;
    else if (t.tokenSha256) tokenSha256[t.tokenSha256.toLowerCase()] = t.role;
    else {
      const from = path.resolve(dataDir, t.tokenFile!);
      let token: string;
      try {
        token = readFileSync(from, "utf8").trim();
      } catch (err) {
        throw new SettingsError(`${file}: $.tokens[${i}].tokenFile: ${(err as Error).message}`);
      }
      if (token.length < 16) throw new SettingsError(`${file}: $.tokens[${i}].tokenFile: ${from} holds fewer than 16 characters`);
      tokens[token] = t.role;
    }
  });
  return { tokens, tokenSha256, openMetrics: s.openMetrics, openHealth: s.openHealth, allowHosts: s.allowHosts, allowOrigins: s.allowOrigins, grants: s.grants, python: s.python };
}
