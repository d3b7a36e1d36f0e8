/**
 * A stateful trainer's memory between updates (seen classes, EWC importance, replay buffer),
 * stored per model version beside the node's data so a warm start picks up the champion's own
 * state. V8's serializer keeps the typed arrays binary; cbor-x would too, but it keeps its
 * encode buffer at the largest size it ever wrote (a replay buffer: megabytes) for the life
 * of the serving process.
 */
import { deserialize, serialize } from "node:v8";
import * as fs from "node:fs/promises";
import path from "node:path";
import type { ClState } from "./train";

export class ClStateStore {
  constructor(private readonly dir: string) {}

  private file(model: string, version: number): string {
    return path.join(this.dir, `${model}@${version}.v8`);
  }

  async save(model: string, version: number, state: ClState): Promise<void> {
    await fs.mkdir(this.dir, { recursive: true });
    await fs.writeFile(this.file(model, version), serialize(state));
  }

  async load(model: string, version: number): Promise<ClState | undefined> {
    try {
      return deserialize(await fs.readFile(this.file(model, version))) as ClState;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw err;
    }
  }
}
