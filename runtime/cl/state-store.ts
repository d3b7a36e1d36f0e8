/**
 * A stateful trainer's memory between updates (seen classes, EWC importance, replay buffer),
 * stored per model version beside the node's data so a warm start picks up the champion's own
 * state. CBOR (cbor-x) keeps the typed arrays binary.
 */
import { decode, encode } from "cbor-x";
import * as fs from "node:fs/promises";
import path from "node:path";
import type { ClState } from "./train";

export class ClStateStore {
  constructor(private readonly dir: string) {}

  private file(model: string, version: number): string {
    return path.join(this.dir, `${model}@${version}.cbor`);
  }

  async save(model: string, version: number, state: ClState): Promise<void> {
    await fs.mkdir(this.dir, { recursive: true });
    await fs.writeFile(this.file(model, version), encode(state));
  }

  async load(model: string, version: number): Promise<ClState | undefined> {
    try {
      return decode(await fs.readFile(this.file(model, version))) as ClState;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw err;
    }
  }
}
