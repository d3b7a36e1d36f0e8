/**
 * Config fields that name files or folders (`configPath`). The string is checked wherever the
 * config is parsed; the runtime (runtime/confined-path.ts) resolves the path on disk at deploy
 * and again when a node opens it, confined to the pipeline's data folder.
 */
import { realpath } from "node:fs/promises";
import path from "node:path";
import { z } from "zod";

export type PathKind = "file" | "folder";

/** What the validator, the editor form (`evoflowPath` in the JSON Schema) and docs know of a path field. */
export interface PathMeta {
  kind: PathKind;
  /** write: the node creates or appends to it (and needs the `fs-write` capability). */
  access: "read" | "write";
}

const META_KEY = "evoflowPath";

/** Why a config path may not be used, or undefined when it stays inside the data folder. */
export function confinedPathProblem(p: string): string | undefined {
  if (p === "") return "a path must not be empty";
  if (p.includes("\0")) return "a path must not contain NUL characters";
  // Backslashes count as separators too, so `..\..\x` is no way out on any system.
  const slashed = p.replace(/\\/g, "/");
  if (path.posix.isAbsolute(slashed) || /^[A-Za-z]:/.test(slashed))
    return `absolute paths are not allowed: name a file relative to the pipeline's data folder (e.g. "${path.posix.basename(slashed) || "out.jsonl"}")`;
  const normal = path.posix.normalize(slashed);
  if (normal === ".." || normal.startsWith("../")) return `"${p}" leaves the pipeline's data folder: ".." may only go back down into it`;
  return undefined;
}

/**
 * A config field naming a file or folder inside the pipeline's data folder. Use it for every
 * such field, so validate, deploy and the run-time checks all apply.
 */
export function configPath(options: { kind: PathKind; access?: PathMeta["access"]; describe: string }) {
  const meta: PathMeta = { kind: options.kind, access: options.access ?? "read" };
  return z
    .string()
    .superRefine((p, ctx) => {
      const problem = confinedPathProblem(p);
      if (problem) ctx.addIssue({ code: "custom", message: problem });
    })
    .meta({ description: `${options.describe} (relative to the pipeline's data folder)`, [META_KEY]: meta });
}

/**
 * The real path of `file` inside the folder `root` (named `folder` in messages), for tools that read
 * a file the user names: checked as config paths are, then on disk with symbolic links followed.
 * Throws with the reason it may not be read.
 */
export async function realFileInside(root: string, file: string, folder: string): Promise<string> {
  const problem = confinedPathProblem(file);
  if (problem) throw new Error(problem.replace("the pipeline's data folder", folder));
  const realRoot = await realpath(root).catch(() => {
    throw new Error(`no folder "${root}"`);
  });
  const real = await realpath(path.resolve(realRoot, file)).catch(() => {
    throw new Error(`no such file "${file}" in ${folder}`);
  });
  if (!real.startsWith(realRoot + path.sep)) throw new Error(`"${file}" leaves ${folder} through a symbolic link`);
  return real;
}

export function pathMetaOf(schema: z.ZodType): PathMeta | undefined {
  return z.globalRegistry.get(schema)?.[META_KEY] as PathMeta | undefined;
}

export interface ResolvePathOptions {
  /** Refuse a path that does not exist (for files and folders the node reads). */
  mustExist?: boolean;
  /** Create the missing parent folders (inside the data folder) for a file the node writes. */
  forWrite?: boolean;
}

