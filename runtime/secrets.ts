/**
 * The data folder's secret store: `<data>/secrets/<NAME>`, one file a secret (mode 0600, the
 * folder 0700), written by `evoflow secrets set` or `PUT /api/secrets/:name` and read by nodes
 * through `ctx.secret("${secret:NAME}")`. Values never leave through the API: it lists names.
 * (A keychain or Vault would be the next step; files beside the token keep the same trust.)
 */
import { mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { parseSecretRef, SECRET_NAME } from "../sdk/config-secret";

export class SecretError extends Error {}

export class SecretStore {
  readonly dir: string;
  constructor(dataDir: string) {
    this.dir = path.join(dataDir, "secrets");
  }

  private file(name: string): string {
    if (!SECRET_NAME.test(name)) throw new SecretError(`"${name}" is not a secret name (letters, digits, _ . -, up to 128)`);
    return path.join(this.dir, name);
  }

  async set(name: string, value: string): Promise<void> {
    const file = this.file(name);
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    await writeFile(file, value, { mode: 0o600 });
  }

  async get(name: string): Promise<string | undefined> {
    try {
      return await readFile(this.file(name), "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw err;
    }
  }

  async names(): Promise<string[]> {
    try {
      return (await readdir(this.dir)).filter((n) => SECRET_NAME.test(n)).sort();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw err;
    }
  }

  /** false when there was no such secret. */
  async remove(name: string): Promise<boolean> {
    try {
      await rm(this.file(name));
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return false;
      throw err;
    }
  }

  /** The value a reference names; rejects with what to do when it is missing. */
  async resolve(reference: string): Promise<string> {
    const ref = parseSecretRef(reference);
    if ("problem" in ref) throw new SecretError(ref.problem);
    if (ref.from === "env") {
      const value = process.env[ref.name];
      if (value === undefined) throw new SecretError(`the environment variable ${ref.name} is not set in the runtime's process`);
      return value;
    }
    const value = await this.get(ref.name);
    if (value === undefined) throw new SecretError(`no secret "${ref.name}" in ${this.dir}: set it with \`evoflow secrets set ${ref.name}\``);
    return value;
  }
}
