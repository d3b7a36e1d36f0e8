/**
 * The collector's waiting requests (and early labels) on disk, so a label that arrives after a
 * runtime restart still joins the request served before it. One journal per collector node in
 * its own data folder (`<node dir>/pending.journal`), in the label queue's style
 * (label-queue.ts): append-only, replayed on open, then rewritten compacted (atomic rename).
 *
 * Records are framed V8-serialised values (a 4-byte length, then the bytes): served messages
 * carry tensors, and V8's serializer keeps typed arrays binary, as the CL state store does.
 * Only the last frame can be torn (a crash mid-append); it is dropped on open.
 *
 * Writes are batched (what arrives while one write runs goes in the next) and handed to the OS
 * without a datasync each: a process crash or restart loses nothing written, a power cut may
 * lose the last moments. The label queue syncs every write because a person's label is costly
 * to lose; served requests come at serving rate and are cheap to lose.
 *
 * Bounded: the journal holds the live entries (at most the join's maxPending requests and as
 * many early labels) and is compacted whenever its records outnumber them by 2× (+1,000).
 * On NATS a restarted worker finds the journal in its `--data` folder; replicas of one
 * collector on different hosts do not share it (see the sampler README).
 */
import * as fs from "node:fs/promises";
import path from "node:path";
import { deserialize, serialize } from "node:v8";
import { replaceFile } from "../../sdk/replace-file";
import type { Label } from "./dataset";

export type PendingRecord<R> =
  | { op: "request"; id: string; at: number; request: R }
  | { op: "label"; id: string; at: number; label: Label }
  /** The entry of this id left (joined, expired or evicted). */
  | { op: "done"; id: string };

type LiveRecord<R> = Exclude<PendingRecord<R>, { op: "done" }>;

const FILE = "pending.journal";

export class PendingJournal<R> {
  /** The live entries by kind and id, in arrival order: what a compaction writes. */
  private readonly live = new Map<string, LiveRecord<R>>();
  private queued: Buffer[] = [];
  private writing: Promise<void> = Promise.resolve();
  private flushing = false;
  /** Records in the file now. */
  private records = 0;
  private failure?: Error;

  private constructor(
    private readonly file: string,
    private handle: fs.FileHandle,
  ) {}

  /** Opens (or creates) the journal in `dir` and returns it with the live entries, oldest first. */
  static async open<R>(dir: string): Promise<{ journal: PendingJournal<R>; entries: LiveRecord<R>[] }> {
    await fs.mkdir(dir, { recursive: true });
    const file = path.join(dir, FILE);
    const bytes = await fs.readFile(file).catch((err: NodeJS.ErrnoException) => {
      if (err.code === "ENOENT") return Buffer.alloc(0);
      throw err;
    });
    const live = new Map<string, LiveRecord<R>>();
    for (let at = 0; at + 4 <= bytes.length; ) {
      const size = bytes.readUInt32BE(at);
      if (at + 4 + size > bytes.length) break; // the torn last frame
      const record = deserialize(bytes.subarray(at + 4, at + 4 + size)) as PendingRecord<R>;
      at += 4 + size;
      if (record.op === "done") {
        live.delete(`request:${record.id}`);
        live.delete(`label:${record.id}`);
      } else live.set(`${record.op}:${record.id}`, record);
    }
    const journal = new PendingJournal<R>(file, await rewrite(file, live.values()));
    for (const [key, record] of live) journal.live.set(key, record);
    journal.records = live.size;
    return { journal, entries: [...live.values()] };
  }

  /** A request now waits for its label (or an early label for its request). */
  add(record: LiveRecord<R>): void {
    this.live.set(`${record.op}:${record.id}`, record);
    this.append(record);
  }

  /** The entries of this id are no longer waiting. */
  done(id: string): void {
    const had = this.live.delete(`request:${id}`);
    if (!this.live.delete(`label:${id}`) && !had) return;
    this.append({ op: "done", id });
  }

  private append(record: PendingRecord<R>): void {
    if (this.failure) throw this.failure;
    this.queued.push(frame(record));
    if (this.flushing) return;
    this.flushing = true;
    // The next tick's write takes every record queued by then: one write call per batch, not per message.
    this.writing = this.writing.then(() => this.flush());
  }

  private async flush(): Promise<void> {
    this.flushing = false;
    const batch = this.queued;
    this.queued = [];
    try {
      if (batch.length > 0) await this.handle.writev(batch);
      // Counted as written: records queued while a compaction runs land in the new file after it.
      this.records += batch.length;
      if (this.records > 2 * this.live.size + 1000) {
        await this.handle.close();
        this.handle = await rewrite(this.file, this.live.values());
        this.records = this.live.size;
      }
    } catch (err) {
      // A full or failing disk: the next add says so (the collector's message goes to the dead letters) rather than losing requests silently.
      this.failure = new Error(`the collector's pending journal ${this.file} cannot be written: ${(err as Error).message}`);
    }
  }

  /** Writes what is queued and closes the file. */
  async close(): Promise<void> {
    if (this.queued.length > 0 && !this.flushing) this.writing = this.writing.then(() => this.flush());
    await this.writing;
    await this.handle.close();
  }
}

function frame(record: PendingRecord<unknown>): Buffer {
  const body = serialize(record);
  const head = Buffer.allocUnsafe(4);
  head.writeUInt32BE(body.length);
  return Buffer.concat([head, body]);
}

/** The live entries written beside the journal and renamed over it (a crash leaves the old or the new file); the new file, open to append. */
async function rewrite(file: string, entries: Iterable<LiveRecord<unknown>>): Promise<fs.FileHandle> {
  const frames = [...entries].map(frame);
  await replaceFile(file, Buffer.concat(frames));
  return fs.open(file, "a");
}
