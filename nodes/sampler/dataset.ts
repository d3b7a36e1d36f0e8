/**
 * What the collector and the samplers hand to a trainer: a dataset snapshot that
 * says exactly which messages it holds, so a model version's lineage can name its
 * training data (the registry stores `source` and the message ids).
 */
export type Label = number | string;

export interface Sample {
  /** Id of the message the sample came from (the joined labelled message). */
  id: string;
  /** Collector sequence number: samples are numbered 0, 1, 2, … as labels join. */
  seq?: number;
  x: unknown;
  y: Label;
  /** The stream it was served on, as "node.port" of the message's source. */
  from?: string;
}

export interface DatasetSnapshot {
  kind: "dataset";
  /** Which node made it, and how (collector, reservoir, rehearsal, mixer). */
  source: { pipeline: string; node: string; sampler: string; seed?: number };
  createdAt: number;
  /** Samples held, by label. */
  classes: Record<string, number>;
  /** Labels first seen since the previous snapshot of this node. */
  newClasses: Label[];
  size: number;
  /** Sequence range of the samples (collector numbering), when known. */
  range?: { first: number; last: number };
  /** The streams the samples were served on ("node.port"). */
  streams: string[];
  /** Exactly which messages, in dataset order. */
  messages: string[];
  /** The samples themselves, unless the node was told to leave them out. */
  items?: Sample[];
  /** Extra figures of the sampler (label-join counters, seen count, mix shares, …). */
  stats?: Record<string, unknown>;
}

export function classCounts(items: readonly { y: Label }[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const { y } of items) counts[String(y)] = (counts[String(y)] ?? 0) + 1;
  return counts;
}

/** Seq range of samples that carry one. */
export function seqRange(items: readonly Sample[]): { first: number; last: number } | undefined {
  let first = Infinity;
  let last = -Infinity;
  for (const s of items) {
    if (s.seq === undefined) continue;
    if (s.seq < first) first = s.seq;
    if (s.seq > last) last = s.seq;
  }
  return first === Infinity ? undefined : { first, last };
}

/** Remembers which labels a node has already reported, to tell new classes. */
export class ClassTracker {
  private readonly reported = new Set<string>();

  newSince(items: readonly { y: Label }[]): Label[] {
    const fresh: Label[] = [];
    for (const { y } of items)
      if (!this.reported.has(String(y))) {
        this.reported.add(String(y));
        fresh.push(y);
      }
    return fresh;
  }
}
