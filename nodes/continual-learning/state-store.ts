/**
 * A stateful trainer's memory between updates (seen classes, EWC importance, replay buffer),
 * stored per model version beside the node's data so a warm start picks up the champion's own
 * state. V8's serializer keeps the typed arrays binary; cbor-x would too, but it keeps its
 * encode buffer at the largest size it ever wrote (a replay buffer: megabytes) for the life
 * of the serving process.
 *
 * The serving process only names the files: the training process reads the champion's state
 * and writes the candidate's (trainer-process.ts `stateFiles`), which the trainer adopts under
 * the candidate's version once it is registered. Read, sent over IPC, sent back and written by
 * the serving process, a replay buffer had been held there up to five times per training.
 */
import { randomUUID } from "node:crypto";
import { deserialize, serialize } from "node:v8";
import * as fs from "node:fs/promises";
import path from "node:path";
import type { ClState } from "./train";

export async function readStateFile(file: string): Promise<ClState | undefined> {
  try {
    return deserialize(await fs.readFile(file)) as ClState;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}

export async function writeStateFile(file: string, state: ClState): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true });
  await fs.writeFile(file, serialize(state));
}

export class ClStateStore {
  constructor(private readonly dir: string) {}

  /** Where a version's state is (or would be). */
  file(model: string, version: number): string {
    return path.join(this.dir, `${model}@${version}.v8`);
  }

  async has(model: string, version: number): Promise<boolean> {
    return fs.access(this.file(model, version)).then(
      () => true,
      () => false,
    );
  }

  /** A file for a training's state before its candidate has a version (left behind only if the candidate's registration fails). */
  pendingFile(): string {
    return path.join(this.dir, `pending-${randomUUID()}.v8`);
  }

  /** The candidate is registered: its state becomes that version's. */
  async adopt(pending: string, model: string, version: number): Promise<void> {
    await fs.rename(pending, this.file(model, version));
  }
}
