/**
 * `evoflow nodes install <name[@range] | tarball | folder>` and `evoflow nodes uninstall <name>`:
 * npm into the data folder's nodes/ (runtime/packages/install.ts), npm's own output on stderr
 * as it comes, then what the package adds, or why it was refused and removed again (exit 1).
 */
import type { Command } from "commander";
import { installNodePackage, PackageManageError, sourceOf, uninstallNodePackage, type ManageOptions } from "../packages/install";
import { NodePackageError } from "../packages/load";
import { nodesDirOption, type NodePackageOptions } from "./node-packages";

const DATA_HELP = "data folder whose nodes/ the package is installed into";

function manageOptions(opts: NodePackageOptions): ManageOptions {
  return { projectDir: process.cwd(), dataDir: opts.data, dirs: opts.nodes, onOutput: (text) => process.stderr.write(text) };
}

function failed(err: unknown): never {
  if (!(err instanceof PackageManageError) && !(err instanceof NodePackageError)) throw err;
  process.stderr.write(`${err.message}\n`);
  process.exit(1);
}

export function registerInstallCommands(nodes: Command): void {
  nodesDirOption(
    nodes
      .command("install")
      .description("install a node package into the data folder with npm: a name from the registry (name@range), a tarball (npm pack) or a folder")
      .argument("<package>", "name[@range], a .tgz file or a folder")
      .option("--data <dir>", DATA_HELP, ".evoflow"),
  ).action(async (arg: string, opts: NodePackageOptions) => {
    try {
      const source = sourceOf(arg);
      process.stderr.write(`npm install ${source.kind === "registry" ? source.spec : source.path} into ${opts.data}/nodes\n`);
      const result = await installNodePackage(source, manageOptions(opts));
      const p = result.package;
      process.stdout.write(`installed ${p.name}@${p.version}${result.replaced ? ` (was ${result.replaced})` : ""} in ${p.dir}\n`);
      process.stdout.write(`  node types: ${p.types.join(", ")}${result.added.length < p.types.length ? ` (new: ${result.added.join(", ") || "none"})` : ""}\n`);
      process.stdout.write("  a runtime already running on this data folder sees them once restarted (installs from its palette manager need no restart)\n");
    } catch (err) {
      failed(err);
    }
  });

  nodesDirOption(
    nodes
      .command("uninstall")
      .description("remove a node package installed in the data folder")
      .argument("<name>")
      .option("--data <dir>", DATA_HELP, ".evoflow"),
  ).action(async (name: string, opts: NodePackageOptions) => {
    try {
      const gave = await uninstallNodePackage(name, manageOptions(opts));
      process.stdout.write(`uninstalled ${name}${gave ? `@${gave.version}: its node types ${gave.types.join(", ")} are gone` : ""}\n`);
    } catch (err) {
      failed(err);
    }
  });
}
