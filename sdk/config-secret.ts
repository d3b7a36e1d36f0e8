/**
 * Config fields that hold a secret (a password, a URL with credentials): the pipeline JSON holds
 * only a reference, `${secret:NAME}` (the data folder's secret store, `evoflow secrets set NAME`)
 * or `${env:EVOFLOW_NAME}` (an environment variable of the runtime's process), so neither Git,
 * an export nor a tap ever shows the value. A node gets the value from `ctx.secret(reference)`.
 */
import { z } from "zod";

/** What a secret may be called: a file name in the store, never a path. */
export const SECRET_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
/** Only variables named so may be read: a pipeline must not reach the process's other variables (cloud keys, tokens). */
export const ENV_PREFIX = "EVOFLOW_";

export type SecretRef = { from: "secret" | "env"; name: string };

const META_KEY = "evoflowSecret";
const REFERENCE = /^\$\{(secret|env):([^}]*)\}$/;

/** The reference a string is, or why it is not one. */
export function parseSecretRef(text: string): SecretRef | { problem: string } {
  const m = REFERENCE.exec(text);
  if (!m) return { problem: 'a secret is not written in the pipeline: give "${secret:NAME}" (set with `evoflow secrets set NAME`) or "${env:EVOFLOW_NAME}"' };
  const [, from, name] = m as unknown as [string, "secret" | "env", string];
  if (!SECRET_NAME.test(name)) return { problem: `"${name}" is not a secret name (letters, digits, _ . -, up to 128)` };
  if (from === "env" && !name.startsWith(ENV_PREFIX)) return { problem: `only environment variables whose name starts with ${ENV_PREFIX} may be read ("${name}" does not)` };
  if (from === "env" && name === "EVOFLOW_TOKEN") return { problem: "EVOFLOW_TOKEN is the API's token, not a secret a pipeline may read" };
  return { from, name };
}

/** A config field holding a reference to a secret. Use it for every password or credential. */
export function configSecret(options: { describe: string }) {
  return z
    .string()
    .superRefine((text, ctx) => {
      const ref = parseSecretRef(text);
      if ("problem" in ref) ctx.addIssue({ code: "custom", message: ref.problem });
    })
    .meta({ description: `${options.describe} ("\${secret:NAME}" or "\${env:EVOFLOW_NAME}")`, [META_KEY]: true });
}

export function isSecretField(schema: z.ZodType): boolean {
  return z.globalRegistry.get(schema)?.[META_KEY] === true;
}
