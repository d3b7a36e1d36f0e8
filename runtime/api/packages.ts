/**
 * Node packages over HTTP, for the editor's palette manager:
 *
 *   GET    /api/packages                 the loaded packages (viewer)
 *   POST   /api/packages                 {"package": "name@range"} | {"tarball": "<path>"} | {"folder": "<path>"}
 *   DELETE /api/packages/:name           also /api/packages/@scope/name
 *
 * Installing runs npm and then the package's code in this process, so a change needs the
 * operator role (runtime/api/auth.ts) and the `exec` capability in the runtime's grants (the
 * settings' "grants" or --grant): refused with 403 naming what is missing. Tarball and folder
 * paths are relative to the runtime's data folder and confined to it (runtime/confined-path.ts):
 * a browser cannot make the runtime install whatever file it can name on the machine.
 *
 * After a change the runtime's registry is loaded again, so new types deploy without a restart.
 * A package whose types a running pipeline uses is not removed (409 naming the pipelines).
 * One change at a time: npm does not share its folder.
 */
import { statSync } from "node:fs";
import type { FastifyInstance, FastifyReply } from "fastify";
import { z } from "zod";
import { resolveConfined } from "../confined-path";
import { installNodePackage, PackageManageError, parseRegistrySpec, uninstallNodePackage, type InstallSource } from "../packages/install";
import { NodePackageError, type NodePackage } from "../packages/load";
import type { Runtime } from "../runtime";

const installBody = z.union([
  z.object({ package: z.string().min(1).max(320) }).strict(),
  z.object({ tarball: z.string().min(1).max(4096) }).strict(),
  z.object({ folder: z.string().min(1).max(4096) }).strict(),
]);

const view = ({ name, version, source, sdk, namespaces, types }: NodePackage) => ({ name, version, source, sdk, namespaces, types });

export async function packageRoutes(app: FastifyInstance, runtime: Runtime): Promise<void> {
  let queue: Promise<unknown> = Promise.resolve();
  const oneAtATime = <T>(job: () => Promise<T>): Promise<T> => {
    const run = queue.then(job, job);
    queue = run.catch(() => undefined);
    return run;
  };
  const manageOptions = () => ({ ...runtime.nodeTypes.loadedWith, dataDir: runtime.dataDir });

  /** 403 unless the runtime grants exec; the operator role was checked before the route ran. */
  const refuseWithoutExec = (reply: FastifyReply) => {
    if (runtime.grants.has("exec")) return undefined;
    return reply.status(403).send({
      error: "installing or removing node packages runs npm and the package's code: this runtime does not grant the \"exec\" capability (start it with --grant exec, or list it in the settings' \"grants\")",
      missing: ["exec"],
    });
  };

  app.get("/api/packages", async () => ({
    packages: runtime.nodeTypes.packages.map(view),
    // What the palette manager can offer: the role is the token's, unknown here.
    canManage: runtime.grants.has("exec"),
  }));

  app.post("/api/packages", async (req, reply) => {
    if (refuseWithoutExec(reply)) return reply;
    const parsed = installBody.safeParse(req.body);
    if (!parsed.success)
      return reply.status(400).send({ error: 'the body must be {"package": "name@range"}, {"tarball": "<path in the data folder>"} or {"folder": "<path in the data folder>"}' });
    let source: InstallSource;
    try {
      source = await sourceOf(parsed.data, runtime.dataDir);
    } catch (err) {
      if (err instanceof PackageManageError) return reply.status(400).send({ error: err.message });
      throw err;
    }
    return oneAtATime(async () => {
      let output = "";
      try {
        const result = await installNodePackage(source, { ...manageOptions(), onOutput: (t) => (output += t) });
        await runtime.reloadNodeTypes();
        return reply.status(201).send({ package: view(result.package), added: result.added, replaced: result.replaced ?? null, npm: tail(output) });
      } catch (err) {
        if (!(err instanceof PackageManageError) && !(err instanceof NodePackageError)) throw err;
        return reply.status(422).send({ error: err.message.split("\n")[0], problems: err.problems, npm: tail(output) });
      }
    });
  });

  const uninstall = async (name: string, reply: FastifyReply) => {
    if (refuseWithoutExec(reply)) return reply;
    if (typeof parseRegistrySpec(name) === "string") return reply.status(400).send({ error: `"${name}" is not an npm package name` });
    return oneAtATime(async () => {
      const pkg = runtime.nodeTypes.packages.find((p) => p.name === name);
      const users = pkg ? pipelinesUsing(runtime, pkg.types) : [];
      if (users.length)
        return reply.status(409).send({ error: `${name} gives node types that running pipelines use: stop ${users.map((u) => `"${u}"`).join(", ")} first`, pipelines: users });
      let output = "";
      try {
        const gave = await uninstallNodePackage(name, { ...manageOptions(), onOutput: (t) => (output += t) });
        await runtime.reloadNodeTypes();
        return { uninstalled: name, types: gave?.types ?? [], npm: tail(output) };
      } catch (err) {
        if (!(err instanceof PackageManageError) && !(err instanceof NodePackageError)) throw err;
        const notInstalled = /is not installed in/.test(err.message);
        return reply.status(notInstalled ? 404 : 422).send({ error: err.message.split("\n")[0], problems: err.problems, npm: tail(output) });
      }
    });
  };
  app.delete<{ Params: { name: string } }>("/api/packages/:name", (req, reply) => uninstall(req.params.name, reply));
  app.delete<{ Params: { scope: string; name: string } }>("/api/packages/:scope/:name", (req, reply) => uninstall(`${req.params.scope}/${req.params.name}`, reply));
}

async function sourceOf(body: z.infer<typeof installBody>, dataDir: string): Promise<InstallSource> {
  if ("package" in body) {
    const parsed = parseRegistrySpec(body.package);
    if (typeof parsed === "string") throw new PackageManageError(`package: ${parsed}`);
    return { kind: "registry", spec: body.package, name: parsed.name };
  }
  const [kind, given] = "tarball" in body ? (["tarball", body.tarball] as const) : (["folder", body.folder] as const);
  const full = await resolveConfined(dataDir, given, { mustExist: true }).catch((err: Error) => {
    throw new PackageManageError(`${kind}: ${err.message.replace("pipeline's data folder", "runtime's data folder")}`);
  });
  const isFolder = statSync(full).isDirectory();
  if (isFolder !== (kind === "folder")) throw new PackageManageError(`${kind}: ${given} is a ${isFolder ? "folder" : "file"}`);
  return { kind, path: full };
}

function pipelinesUsing(runtime: Runtime, types: readonly string[]): string[] {
  return runtime
    .list()
    .filter((p) => p.compiled.pipeline.nodes.some((n) => types.includes(n.type)))
    .map((p) => p.name);
}

const tail = (output: string) => output.trim().split("\n").slice(-20).join("\n");
