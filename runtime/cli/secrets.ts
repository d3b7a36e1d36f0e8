/**
 * `evoflow secrets set|list|rm`: the data folder's secret store (runtime/secrets.ts), which
 * configs reach as `${secret:NAME}`. `set` reads the value from standard input, never from an
 * argument (arguments show in `ps` and in shell history).
 */
import type { Command } from "commander";
import { SecretError, SecretStore } from "../secrets";

const withData = (command: Command) => command.option("--data <dir>", "data folder holding the secrets", ".evoflow");

async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) process.stderr.write("the secret's value, then Enter and Ctrl-D: ");
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  // One trailing newline is the shell's (echo, a here-string), not the secret's.
  return Buffer.concat(chunks).toString("utf8").replace(/\r?\n$/, "");
}

const run = (action: () => Promise<void>) => action().catch((err: unknown) => {
  if (!(err instanceof SecretError)) throw err;
  process.stderr.write(`${err.message}\n`);
  process.exit(1);
});

export function register(program: Command): void {
  const secrets = program.command("secrets").description("the data folder's secrets, which configs name as ${secret:NAME}");
  withData(secrets.command("set"))
    .description("set a secret from standard input (e.g. `evoflow secrets set mqtt-password < file`)")
    .argument("<name>")
    .action((name: string, opts: { data: string }) =>
      run(async () => {
        const value = await readStdin();
        if (value === "") throw new SecretError("the value on standard input is empty: nothing was set");
        await new SecretStore(opts.data).set(name, value);
        process.stdout.write(`set ${name} (configs name it "\${secret:${name}}")\n`);
      }),
    );
  withData(secrets.command("list"))
    .description("the secrets' names (never their values)")
    .action((opts: { data: string }) => run(async () => void process.stdout.write((await new SecretStore(opts.data).names()).map((n) => `${n}\n`).join(""))));
  withData(secrets.command("rm"))
    .description("remove a secret")
    .argument("<name>")
    .action((name: string, opts: { data: string }) =>
      run(async () => {
        if (!(await new SecretStore(opts.data).remove(name))) throw new SecretError(`no secret "${name}"`);
        process.stdout.write(`removed ${name}\n`);
      }),
    );
}
