/**
 * The durable label queue of active learning: items `sampler.uncertainty` chose wait here for
 * people to label them, over the HTTP API (label-api.ts) and the editor's labeling page.
 *
 * Rules:
 * - `next(labeler)` leases one item to that labeler for `leaseMs`; while the lease runs no one
 *   else gets it or may label it, so two labelers never label one item by mistake. A labeler
 *   asking again gets the item they hold. Most informative first; skipped items go behind.
 * - `skip` ends the lease and puts the item back for everyone; an expired lease does the same.
 * - `submit` records the label, who gave it and when; a labelled item is never labelled again
 *   (409). The listener (the node) then sends the label on to the collector; a label given while
 *   the pipeline is down is kept and sent when the node starts again (`delivered`).
 *
 * Durability: one append-only JSON Lines journal per queue in the runtime's data folder
 * (`<data>/label-queues/<name>.jsonl`), each write flushed to disk (datasync) before the call
 * returns; opening replays it and rewrites it compacted (atomic rename). Labelled, delivered
 * items older than a day beyond the newest `keepLabelled` are dropped then. JSON rather than
 * V8's serializer: a person can read the file, and items are small (one request each).
 */
import { randomUUID } from "node:crypto";
import * as fs from "node:fs/promises";
import path from "node:path";
import type { LabelItem, LabelItemState } from "../../sdk";
import { replaceFile } from "../../sdk/replace-file";

export type { LabelItem };

export type ItemState = LabelItemState;

export interface QueueMeta {
  /** Class names, index = the label value. */
  classes?: string[];
  leaseMs: number;
}

type JournalRecord =
  | { op: "meta"; meta: QueueMeta }
  | { op: "add"; item: LabelItem }
  | { op: "lease"; id: string; labeler: string; until: number }
  | { op: "skip"; id: string; labeler: string; at: number }
  | { op: "label"; id: string; value: number | string; labeler: string; at: number }
  | { op: "delivered"; id: string };

/** A refused queue operation, with the HTTP status that says why. */
export class QueueError extends Error {
  constructor(
    readonly status: 400 | 404 | 409,
    message: string,
  ) {
    super(message);
  }
}

export const QUEUE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
export const LABELER_NAME = /^[\p{L}\p{N}][\p{L}\p{N} ._@-]{0,63}$/u;
const DAY = 86_400_000;

export class LabelQueue {
  private readonly items = new Map<string, LabelItem>();
  // Asked for every request the sampler sees: a set, not a scan of the items.
  private readonly requestIds = new Set<string>();
  private writing: Promise<void> = Promise.resolve();
  private listener?: (item: LabelItem) => Promise<void>;

  private constructor(
    readonly name: string,
    private readonly file: string,
    private handle: fs.FileHandle,
    public meta: QueueMeta,
    private readonly now: () => number,
  ) {}

  /** Opens (or creates) the queue's journal under `dir`: replays it, then rewrites it compacted. */
  static async open(dir: string, name: string, options: { meta?: Partial<QueueMeta>; keepLabelled?: number; now?: () => number } = {}): Promise<LabelQueue> {
    if (!QUEUE_NAME.test(name)) throw new QueueError(400, `invalid label queue name "${name}" (letters, digits, . _ -; at most 128)`);
    const now = options.now ?? Date.now;
    await fs.mkdir(dir, { recursive: true });
    const file = path.join(dir, `${name}.jsonl`);
    let meta: QueueMeta = { leaseMs: 300_000 };
    const items = new Map<string, LabelItem>();
    let text = "";
    try {
      text = await fs.readFile(file, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    }
    const lines = text.split("\n");
    lines.forEach((line, i) => {
      if (!line) return;
      let record: JournalRecord;
      try {
        record = JSON.parse(line) as JournalRecord;
      } catch {
        // Only the last line can be torn (a crash mid-append): anything else is a damaged file.
        if (i >= lines.length - 2) return;
        throw new Error(`${file}:${i + 1}: not JSON: the label queue's journal is damaged`);
      }
      if (record.op === "meta") meta = record.meta;
      else apply(items, record);
    });
    meta = { ...meta, ...options.meta };
    const keep = options.keepLabelled ?? 10_000;
    const done = [...items.values()].filter((it) => it.label && it.delivered && now() - it.enqueuedAt > DAY);
    for (const it of done.slice(0, Math.max(0, done.length - keep))) items.delete(it.id);
    // Compacted: one line per item, written beside and renamed over, so a crash leaves the old or the new file.
    const compact = [JSON.stringify({ op: "meta", meta }), ...[...items.values()].map((item) => JSON.stringify({ op: "add", item }))].join("\n") + "\n";
    await replaceFile(file, compact);
    const queue = new LabelQueue(name, file, await fs.open(file, "a"), meta, now);
    for (const [id, item] of items) {
      queue.items.set(id, item);
      queue.requestIds.add(item.requestId);
    }
    return queue;
  }

  private async append(record: JournalRecord): Promise<void> {
    if (record.op === "meta") this.meta = record.meta;
    else apply(this.items, record);
    // Applied at once (so two requests in one tick see each other's lease); written in order.
    const write = this.writing.then(async () => {
      await this.handle.write(JSON.stringify(record) + "\n");
      await this.handle.datasync();
    });
    this.writing = write.catch(() => undefined);
    await write;
  }

  stateOf(item: LabelItem): ItemState {
    if (item.label) return "labelled";
    return item.lease && item.lease.until > this.now() ? "leased" : "queued";
  }

  /** Items sent in the last `ms` (the budget counts them; the journal keeps them, so it holds across restarts). */
  addedWithin(ms: number): number {
    const since = this.now() - ms;
    let n = 0;
    for (const item of this.items.values()) if (item.enqueuedAt > since) n++;
    return n;
  }

  has(requestId: string): boolean {
    return this.requestIds.has(requestId);
  }

  async add(item: Omit<LabelItem, "id" | "enqueuedAt" | "skips">): Promise<LabelItem> {
    const full: LabelItem = { id: randomUUID(), enqueuedAt: this.now(), skips: [], ...item };
    this.requestIds.add(full.requestId);
    await this.append({ op: "add", item: full });
    return full;
  }

  async setMeta(meta: QueueMeta): Promise<void> {
    if (JSON.stringify(meta) !== JSON.stringify(this.meta)) await this.append({ op: "meta", meta });
  }

  get(id: string): LabelItem {
    const item = this.items.get(id);
    if (!item) throw new QueueError(404, `no item ${id} in label queue ${this.name}`);
    return item;
  }

  /** The item this labeler should label now, leased to them; undefined when none is waiting. */
  async next(labeler: string): Promise<LabelItem | undefined> {
    checkLabeler(labeler);
    const now = this.now();
    const open = [...this.items.values()].filter((it) => !it.label);
    const held = open.find((it) => it.lease?.labeler === labeler && it.lease.until > now);
    const item =
      held ??
      open
        .filter((it) => this.stateOf(it) === "queued")
        .sort((a, b) => a.skips.length - b.skips.length || b.score - a.score || a.enqueuedAt - b.enqueuedAt)[0];
    if (!item) return undefined;
    await this.append({ op: "lease", id: item.id, labeler, until: now + this.meta.leaseMs });
    return item;
  }

  async skip(id: string, labeler: string): Promise<LabelItem> {
    checkLabeler(labeler);
    const item = this.get(id);
    this.refuseIfTaken(item, labeler, "skip");
    await this.append({ op: "skip", id, labeler, at: this.now() });
    return item;
  }

  async submit(id: string, labeler: string, value: unknown): Promise<LabelItem> {
    checkLabeler(labeler);
    const item = this.get(id);
    if (typeof value !== "number" && typeof value !== "string") throw new QueueError(400, "label must be a number or a string");
    const classes = this.meta.classes;
    if (classes && !(Number.isInteger(value) && (value as number) >= 0 && (value as number) < classes.length))
      throw new QueueError(400, `label must be a class index 0–${classes.length - 1} (${classes.join(", ")})`);
    this.refuseIfTaken(item, labeler, "label");
    await this.append({ op: "label", id, value, labeler, at: this.now() });
    await this.deliver(item);
    return item;
  }

  private refuseIfTaken(item: LabelItem, labeler: string, what: string): void {
    if (item.label) throw new QueueError(409, `item ${item.id} was already labelled ${JSON.stringify(item.label.value)} by ${item.label.labeler} at ${new Date(item.label.at).toISOString()}`);
    if (this.stateOf(item) === "leased" && item.lease!.labeler !== labeler)
      throw new QueueError(409, `item ${item.id} is leased to ${item.lease!.labeler} until ${new Date(item.lease!.until).toISOString()}: ${labeler} may not ${what} it`);
  }

  /** Who sends labels on (the node); labels given while there was none are sent now. */
  async listen(listener: ((item: LabelItem) => Promise<void>) | undefined): Promise<void> {
    this.listener = listener;
    if (listener) for (const item of [...this.items.values()]) if (item.label && !item.delivered) await this.deliver(item);
  }

  private async deliver(item: LabelItem): Promise<void> {
    if (!this.listener) return;
    await this.listener(item);
    await this.append({ op: "delivered", id: item.id });
  }

  list(filter: { state?: ItemState; limit?: number } = {}): LabelItem[] {
    const all = [...this.items.values()].filter((it) => !filter.state || this.stateOf(it) === filter.state);
    return all.slice(Math.max(0, all.length - (filter.limit ?? 100)));
  }

  counts(): Record<ItemState, number> {
    const counts = { queued: 0, leased: 0, labelled: 0 };
    for (const item of this.items.values()) counts[this.stateOf(item)]++;
    return counts;
  }

  async close(): Promise<void> {
    await this.writing;
    await this.handle.close();
  }
}

function apply(items: Map<string, LabelItem>, record: Exclude<JournalRecord, { op: "meta" }>): void {
  if (record.op === "add") {
    items.set(record.item.id, record.item);
    return;
  }
  const item = items.get(record.id);
  if (!item) return; // compacted away
  if (record.op === "lease") item.lease = { labeler: record.labeler, until: record.until };
  else if (record.op === "skip") {
    item.skips.push({ labeler: record.labeler, at: record.at });
    delete item.lease;
  } else if (record.op === "label") {
    item.label = { value: record.value, labeler: record.labeler, at: record.at };
    delete item.lease;
  } else item.delivered = true;
}

function checkLabeler(labeler: unknown): asserts labeler is string {
  if (typeof labeler !== "string" || !LABELER_NAME.test(labeler)) throw new QueueError(400, "labeler must be a name: letters or digits first, then letters, digits, space . _ @ -; at most 64");
}

/** The runtime's label queues by name (the `sampler.label-queues` service), opened on first use. */
export class LabelQueues {
  private readonly open = new Map<string, Promise<LabelQueue>>();

  constructor(readonly dir: string) {}

  /** The queue, opened (or created) with `meta` when given. */
  async get(name: string, meta?: QueueMeta): Promise<LabelQueue> {
    let queue = this.open.get(name);
    if (!queue) {
      queue = LabelQueue.open(this.dir, name, { meta });
      this.open.set(name, queue);
      queue.catch(() => this.open.delete(name));
    }
    const q = await queue;
    if (meta) await q.setMeta(meta);
    return q;
  }

  /** A queue that exists (open, or its journal on disk); undefined otherwise. */
  async find(name: string): Promise<LabelQueue | undefined> {
    if (!QUEUE_NAME.test(name)) throw new QueueError(400, `invalid label queue name "${name}"`);
    if (this.open.has(name)) return this.get(name);
    try {
      await fs.access(path.join(this.dir, `${name}.jsonl`));
    } catch {
      return undefined;
    }
    return this.get(name);
  }

  async names(): Promise<string[]> {
    let files: string[] = [];
    try {
      files = await fs.readdir(this.dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    }
    return [...new Set([...this.open.keys(), ...files.filter((f) => f.endsWith(".jsonl")).map((f) => f.slice(0, -6))])].sort();
  }

  async close(): Promise<void> {
    for (const queue of this.open.values()) await (await queue.catch(() => undefined))?.close();
    this.open.clear();
  }
}
