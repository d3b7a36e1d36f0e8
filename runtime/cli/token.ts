/**
 * Where the API token comes from, for the server (`run`, `serve`) and for every command
 * that calls the API (`tap`, `trace`, `history --url`, `card --url`), in one order:
 * `--token`, then `EVOFLOW_TOKEN`, then the data folder's `token` file (`--data`,
 * default `.evoflow`). A server with none of them generates one (32 random bytes,
 * base64url) and writes it there (mode 0600), so a restart keeps the printed URL
 * working and the CLI on the same machine finds it without flags, as Jupyter's does.
 */
import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";

export type TokenSource = "--token" | "EVOFLOW_TOKEN" | "token file" | "generated";

export const tokenFile = (dataDir: string) => path.join(dataDir, "token");

function readTokenFile(file: string): string | undefined {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
  const token = text.trim();
  if (!token) throw new Error(`${file} is empty: delete it to have a new token generated`);
  return token;
}

/** The token a command sends, or undefined when there is none anywhere. */
export function clientToken(opts: { token?: string; data?: string }): string | undefined {
  return opts.token ?? (process.env.EVOFLOW_TOKEN || undefined) ?? readTokenFile(tokenFile(opts.data ?? ".evoflow"));
}

export function authHeaders(opts: { token?: string; data?: string }): Record<string, string> {
  const token = clientToken(opts);
  return token ? { authorization: `Bearer ${token}` } : {};
}

/** The server's operator token: given, found, or generated and saved. `warning` when the file is readable by others. */
export function serverToken(opts: { token?: string; data: string }): { token: string; source: TokenSource; file: string; warning?: string } {
  const file = tokenFile(opts.data);
  if (opts.token) return { token: opts.token, source: "--token", file };
  if (process.env.EVOFLOW_TOKEN) return { token: process.env.EVOFLOW_TOKEN, source: "EVOFLOW_TOKEN", file };
  const found = readTokenFile(file);
  if (found) {
    const loose = (statSync(file).mode & 0o077) !== 0;
    return { token: found, source: "token file", file, warning: loose ? `${file} can be read by other users: chmod 600 it` : undefined };
  }
  const token = randomBytes(32).toString("base64url");
  mkdirSync(opts.data, { recursive: true });
  try {
    // "wx": two servers starting at once on one folder agree on the first one's token.
    writeFileSync(file, `${token}\n`, { mode: 0o600, flag: "wx" });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST") return { token: readTokenFile(file)!, source: "token file", file };
    throw err;
  }
  return { token, source: "generated", file };
}
