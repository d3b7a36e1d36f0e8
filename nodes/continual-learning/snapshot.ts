/**
 * A dataset snapshot on disk: the exact examples a candidate was trained on, kept so
 * lineage can name them and an external trainer can read them. The format is the
 * external trainer's contract (docs in nodes/trainer/external.ts):
 *
 *   <dir>/meta.json  { id, count, features, classes, createdAt, source }
 *   <dir>/x.f32      count × features float32, little-endian, row-major
 *   <dir>/y.i32      count int32 labels, little-endian
 *
 * In NumPy: np.fromfile("x.f32", "<f4").reshape(count, features), np.fromfile("y.i32", "<i4").
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs/promises";
import path from "node:path";
import type { SnapshotSource } from "../../sdk/api-types";
import type { LabelledSet } from "./fashion-mnist";

export type { SnapshotSource };

export interface SnapshotMeta {
  id: string;
  count: number;
  features: number;
  classes: Record<string, number>;
  createdAt: string;
  source: SnapshotSource;
}

/**
 * Bytes hashed between two turns of the event loop: hashing 12,000 images in one go blocks a
 * serving process ~25 ms, and 1 MB slices still held requests ~2 ms each (bench/cl-interference.ts).
 */
const HASH_SLICE = 1 << 16;

/** The id is the content hash, so the same data always gets the same id. Hashed in slices, yielding between them. */
export async function snapshotId(set: LabelledSet): Promise<string> {
  const hash = createHash("sha256");
  for (const bytes of [new Uint8Array(set.x.buffer, set.x.byteOffset, set.x.byteLength), new Uint8Array(set.y.buffer, set.y.byteOffset, set.y.byteLength)]) {
    for (let at = 0; at < bytes.length; at += HASH_SLICE) {
      hash.update(bytes.subarray(at, at + HASH_SLICE));
      await new Promise((resolve) => setImmediate(resolve));
    }
  }
  return `snap-${hash.digest("hex").slice(0, 16)}`;
}

export function classCounts(y: Int32Array): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const label of y) counts[label] = (counts[label] ?? 0) + 1;
  return counts;
}

/** Writes `set` under `root`, in a folder named by its content hash unless `id` names it (a copy that needs no identity). */
export async function writeSnapshot(root: string, set: LabelledSet, source: SnapshotSource = {}, id?: string): Promise<{ dir: string; meta: SnapshotMeta }> {
  id ??= await snapshotId(set);
  const dir = path.join(root, id);
  const meta: SnapshotMeta = { id, count: set.count, features: set.features, classes: classCounts(set.y), createdAt: new Date().toISOString(), source };
  await fs.mkdir(dir, { recursive: true });
  await fs.writeFile(path.join(dir, "x.f32"), new Uint8Array(set.x.buffer, set.x.byteOffset, set.x.byteLength));
  await fs.writeFile(path.join(dir, "y.i32"), new Uint8Array(set.y.buffer, set.y.byteOffset, set.y.byteLength));
  await fs.writeFile(path.join(dir, "meta.json"), JSON.stringify(meta, null, 2) + "\n");
  return { dir, meta };
}

export async function readSnapshot(dir: string): Promise<{ set: LabelledSet; meta: SnapshotMeta }> {
  const meta = JSON.parse(await fs.readFile(path.join(dir, "meta.json"), "utf8")) as SnapshotMeta;
  const xBytes = await fs.readFile(path.join(dir, "x.f32"));
  const yBytes = await fs.readFile(path.join(dir, "y.i32"));
  if (xBytes.length !== meta.count * meta.features * 4 || yBytes.length !== meta.count * 4)
    throw new Error(`snapshot ${dir}: file sizes do not match ${meta.count} × ${meta.features}`);
  const x = new Float32Array(new Uint8Array(xBytes).buffer);
  const y = new Int32Array(new Uint8Array(yBytes).buffer);
  return { set: { x, y, count: meta.count, features: meta.features }, meta };
}
