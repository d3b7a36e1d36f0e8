/** React side of core/undo-history.ts: `remember` before a change, `undo`/`redo` restore a snapshot. */
import { useCallback, useRef } from "react";
import { UndoHistory } from "../core/undo-history";

export function useUndoHistory<S>(snapshot: () => S, restore: (s: S) => void, say: (text: string) => void) {
  const history = useRef(new UndoHistory<S>());
  const remember = useCallback((coalesceKey?: string) => history.current.remember(snapshot(), coalesceKey), [snapshot]);
  const undo = useCallback(() => {
    const previous = history.current.undo(snapshot());
    if (previous === undefined) say("Nothing to undo");
    else restore(previous);
  }, [snapshot, restore, say]);
  const redo = useCallback(() => {
    const next = history.current.redo(snapshot());
    if (next === undefined) say("Nothing to redo");
    else restore(next);
  }, [snapshot, restore, say]);
  return { remember, undo, redo };
}
