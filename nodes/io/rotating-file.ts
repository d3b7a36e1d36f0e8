/**
 * The JSONL sink's file: lines appended in batches, each caller told when its line is on disk
 * (or why it is not), the file closed and renamed when it reaches a size or an age, closed files
 * gzipped if asked, and the oldest removed past a count or a byte budget.
 *
 * Closed files sit beside the live one, named `<stem>.<UTC time closed><ext>[.gz]`
 * (`requests.2026-12-07T10-58-01-123Z.jsonl.gz`): names sort by age, and a reader of the live
 * file (tail -f, a shipper) sees it replaced as logrotate's `create` mode does.
 * (pino-roll and rotating-file-stream do some of this, but neither tells each write when it is
 * durable or failed, which the sink needs to dead-letter rather than lose a message.)
 */
import { createReadStream, createWriteStream } from "node:fs";
import { open, readdir, rename, stat, unlink, type FileHandle } from "node:fs/promises";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import { createGzip } from "node:zlib";

export interface Rotation {
  /** Close the file once it holds this many bytes. */
  maxBytes?: number;
  /** Close the file once it is this old (checked at each write). */
  maxSeconds?: number;
  /** Closed files kept; older ones are removed. */
  keep?: number;
  /** Bytes all closed files may take together; the oldest go first. */
  maxTotalBytes?: number;
  /** Gzip a file once it is closed. */
  compress?: boolean;
}

type Pending = { line: string; done: (err?: Error) => void };

export class RotatingFile {
  private handle: FileHandle | undefined;
  private bytes = 0;
  private openedAt = 0;
  private queue: Pending[] = [];
  private flushing: Promise<void> | undefined;
  private housekeeping: Promise<void> = Promise.resolve();
  private lastClosedAt = 0;
  rotations = 0;
  lastError: string | undefined;

  /** `resolve` gives the real path to open each time (the path is checked again at every open). */
  constructor(
    private readonly file: string,
    private readonly resolve: (file: string) => Promise<string>,
    private readonly rotation: Rotation = {},
  ) {}

  /** Resolves once `line` is written; rejects with the reason when it could not be. */
  append(line: string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ line, done: (err) => (err ? reject(err) : resolve()) });
      this.flushing ??= this.flush();
    });
  }

  /** Writes what is queued, then closes the file (and lets a started compression finish). */
  async close(): Promise<void> {
    while (this.flushing) await this.flushing;
    await this.handle?.close();
    this.handle = undefined;
    await this.housekeeping;
  }

  /** The lines that arrived while the last batch was written go out as the next batch: one write call each. */
  private async flush(): Promise<void> {
    try {
      while (this.queue.length > 0) {
        const batch = this.queue;
        this.queue = [];
        try {
          await this.writeBatch(Buffer.from(batch.map((p) => p.line).join("")));
          this.lastError = undefined;
          for (const p of batch) p.done();
        } catch (err) {
          // Disk full, file gone, a symlink planted: these lines fail with the reason; the next batch reopens.
          this.lastError = (err as Error).message;
          await this.handle?.close().catch(() => undefined);
          this.handle = undefined;
          for (const p of batch) p.done(err as Error);
        }
      }
    } finally {
      this.flushing = undefined;
    }
  }

  private async writeBatch(buffer: Buffer): Promise<void> {
    const size = buffer.length;
    const { maxBytes, maxSeconds } = this.rotation;
    if (!this.handle) await this.open();
    // An existing file already past its size is closed before this batch goes in, as the open one is.
    const full = maxBytes !== undefined && this.bytes > 0 && this.bytes + size > maxBytes;
    const old = maxSeconds !== undefined && Date.now() - this.openedAt >= maxSeconds * 1000;
    if (full || old) {
      await this.rotate();
      await this.open();
    }
    const handle = this.handle!;
    // A short write (disk nearly full) leaves part of the batch out: write the rest or fail.
    try {
      for (let at = 0; at < buffer.length; ) at += (await handle.write(buffer, at, buffer.length - at)).bytesWritten;
    } catch (err) {
      // What did go in is cut off again: no torn line for a reader, or for the next batch to follow.
      await handle.truncate(this.bytes).catch(() => undefined);
      throw err;
    }
    this.bytes += size;
  }

  private async open(): Promise<void> {
    this.handle = await open(await this.resolve(this.file), "a");
    this.bytes = (await this.handle.stat()).size;
    this.openedAt = Date.now();
  }

  private async rotate(): Promise<void> {
    const real = await this.resolve(this.file);
    await this.handle!.close();
    this.handle = undefined;
    const { dir, name, ext } = path.parse(real);
    // Strictly later than the last one: two rotations in one millisecond must not share a name.
    this.lastClosedAt = Math.max(Date.now(), this.lastClosedAt + 1);
    const closed = path.join(dir, `${name}.${new Date(this.lastClosedAt).toISOString().replaceAll(/[:.]/g, "-")}${ext}`);
    await rename(real, closed);
    this.rotations++;
    // Compression and clean-up run beside the writes: a slow gzip does not hold up the stream.
    this.housekeeping = this.housekeeping.then(() => this.afterClose(closed, dir, name, ext)).catch((err: Error) => {
      this.lastError = `after rotating: ${err.message}`;
    });
  }

  private async afterClose(closed: string, dir: string, name: string, ext: string): Promise<void> {
    if (this.rotation.compress) {
      await pipeline(createReadStream(closed), createGzip(), createWriteStream(`${closed}.gz`, { flags: "wx" }));
      await unlink(closed);
    }
    const { keep, maxTotalBytes } = this.rotation;
    if (keep === undefined && maxTotalBytes === undefined) return;
    const pattern = new RegExp(`^${escape(name)}\\.\\d{4}-\\d\\d-\\d\\dT[\\d-]+Z${escape(ext)}(\\.gz)?$`);
    const files = (await readdir(dir)).filter((f) => pattern.test(f)).sort().reverse(); // newest first
    let total = 0;
    for (const [i, f] of files.entries()) {
      const full = path.join(dir, f);
      total += (await stat(full)).size;
      if ((keep !== undefined && i >= keep) || (maxTotalBytes !== undefined && total > maxTotalBytes)) await unlink(full);
    }
  }
}

const escape = (s: string) => s.replaceAll(/[.*+?^${}()|[\]\\]/g, "\\$&");
