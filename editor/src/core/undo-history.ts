/**
 * Undo/redo of the editor's document, framework-free (the React side is hooks/useUndoHistory.ts):
 * snapshots taken before each change. Edits of one field in quick succession (same coalesce key
 * within `coalesceMs`) make one step, so typing a number is undone at once, not digit by digit.
 */
export interface UndoOptions {
  /** Steps kept; the oldest goes first. */
  limit?: number;
  coalesceMs?: number;
  now?: () => number;
}

export class UndoHistory<S> {
  private past: S[] = [];
  private future: S[] = [];
  private lastCoalesce: { key: string; at: number } | undefined;
  private readonly limit: number;
  private readonly coalesceMs: number;
  private readonly now: () => number;

  constructor(options: UndoOptions = {}) {
    this.limit = options.limit ?? 200;
    this.coalesceMs = options.coalesceMs ?? 1500;
    this.now = options.now ?? Date.now;
  }

  /** Call before changing the document, with the document as it is. */
  remember(current: S, coalesceKey?: string): void {
    const at = this.now();
    const last = this.lastCoalesce;
    this.lastCoalesce = coalesceKey ? { key: coalesceKey, at } : undefined;
    if (coalesceKey && last?.key === coalesceKey && at - last.at < this.coalesceMs) return;
    this.past.push(current);
    if (this.past.length > this.limit) this.past.shift();
    this.future = [];
  }

  /** The document to show instead of `current`, or undefined when there is nothing to undo. */
  undo(current: S): S | undefined {
    const previous = this.past.pop();
    if (previous === undefined) return undefined;
    this.future.push(current);
    this.lastCoalesce = undefined;
    return previous;
  }

  redo(current: S): S | undefined {
    const next = this.future.pop();
    if (next === undefined) return undefined;
    this.past.push(current);
    return next;
  }

  get undoSteps(): number {
    return this.past.length;
  }

  get redoSteps(): number {
    return this.future.length;
  }
}
