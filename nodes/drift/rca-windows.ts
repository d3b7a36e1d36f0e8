/**
 * The before and after windows of root-cause analysis (rca.ts), on every edge upstream of a
 * drift alarm, and the features read out of their messages.
 *
 * After: the messages the detector's alarm window was made from. The window is found on the
 * edge into the detector by the ids its event names (`window.firstMessage`/`lastMessage`,
 * nodes/drift/event.ts), and on each upstream edge as the ancestors of those messages, walked
 * through `parents` over the recorded edges: provenance, so queueing on async edges and
 * filters that drop messages do not shift the windows. An edge with no ancestor among its
 * messages (lineage cut by a node that names no parents) takes its last messages up to the
 * alarm instead, as many as the detector's window.
 * Before: the messages of the same edge just before the first of those, as many as the after
 * window (fewer when the edge kept fewer).
 *
 * A streaming detector (ADWIN, Page-Hinkley…) names only the value that fired, a few values after
 * the change: each edge is split at that value's newest ancestor on it, the after-window is what
 * the edge carried after that (ahead of the detector, then `later`, collected after the alarm as
 * it comes), as many as the detector's window; the before-window as many messages up to the split. Asked too early, the after-window
 * is short, and features with too few values are skipped.
 */
import { isTensor, type Message } from "../../sdk";
import type { DriftAlarm, RecordedEdge } from "../../sdk/api-types";
import type { DriftEvent } from "./event";

export interface EdgeWindows {
  edge: RecordedEdge;
  before: Message[];
  after: Message[];
}

/** Features read from one message, at most this many (a 28×28 image has 784). */
export const MAX_FEATURES = 1024;
const MAX_DEPTH = 8;

export function alarmWindows(alarm: DriftAlarm): EdgeWindows[] {
  const window = (alarm.event as Partial<DriftEvent> | null)?.window;
  const size = Math.max(1, window?.size ?? 0);
  const byId = new Map<string, Message>();
  for (const e of alarm.recorded) for (const m of e.messages) byId.set(m.id, m);
  const into = alarm.recorded.filter((r) => r.to.node === alarm.node);
  const ids = (e: RecordedEdge) => e.messages.map((m) => m.id);

  // A two-sample detector names the first message of the window it tested.
  const tested = new Set<string>();
  for (const e of into) {
    const order = ids(e);
    const first = window?.firstMessage !== undefined ? order.indexOf(window.firstMessage) : -1;
    const last = window?.lastMessage !== undefined ? order.lastIndexOf(window.lastMessage) : order.length - 1;
    if (first >= 0 && first <= last) for (let i = first; i <= last; i++) tested.add(order[i]);
  }
  if (tested.size > 0) {
    const lineage = ancestors(tested, byId);
    return alarm.recorded.map((edge) => {
      const positions = edge.messages.flatMap((m, i) => (lineage.has(m.id) ? [i] : []));
      const after = positions.length ? positions.map((i) => edge.messages[i]) : edge.messages.slice(-Math.min(size, Math.ceil(edge.messages.length / 2)));
      const start = positions.length ? positions[0] : edge.messages.length - after.length;
      return { edge, before: edge.messages.slice(Math.max(0, start - after.length), start), after };
    });
  }

  // Else (a streaming detector, or ids gone): the value that fired splits each edge; what came after it is the after-window.
  const fired = new Set(into.flatMap((e) => ids(e).filter((id) => id === window?.lastMessage)));
  if (fired.size === 0) for (const e of into) if (e.messages.length) fired.add(e.messages[e.messages.length - 1].id);
  const lineage = ancestors(fired, byId);
  return alarm.recorded.map((edge) => {
    let split = edge.messages.length - 1;
    while (split >= 0 && !lineage.has(edge.messages[split].id)) split--;
    if (split < 0) split = edge.messages.length - 1;
    // An edge ahead of the detector (an async queue between) had carried some of them already.
    const after = [...edge.messages.slice(split + 1), ...edge.later].slice(0, size);
    const before = edge.messages.slice(Math.max(0, split + 1 - Math.max(after.length, 1)), split + 1);
    return { edge, before, after };
  });
}

/** The messages and every ancestor of theirs among the recorded ones, through `parents`. */
function ancestors(messages: Set<string>, byId: Map<string, Message>): Set<string> {
  const found = new Set(messages);
  const stack = [...messages];
  while (stack.length > 0) {
    for (const parent of byId.get(stack.pop()!)?.parents ?? []) {
      if (found.has(parent) || !byId.has(parent)) continue;
      found.add(parent);
      stack.push(parent);
    }
  }
  return found;
}

export type Leaf = number | string;

/** Every number, string and boolean of a message's payload by path (`payload.x[1]`), tensors element by element. */
export function features(message: Message): Map<string, Leaf> {
  const out = new Map<string, Leaf>();
  const visit = (value: unknown, path: string, depth: number): void => {
    if (out.size >= MAX_FEATURES) return;
    if (typeof value === "number") {
      if (Number.isFinite(value)) out.set(path, value);
    } else if (typeof value === "string") out.set(path, value);
    else if (typeof value === "boolean") out.set(path, String(value));
    else if (typeof value === "bigint") out.set(path, Number(value));
    else if (isTensor(value)) {
      const data = value.data as ArrayLike<number | bigint | string>;
      for (let i = 0; i < data.length && out.size < MAX_FEATURES; i++) visit(data[i], `${path}[${i}]`, depth + 1);
    } else if (depth < MAX_DEPTH && ArrayBuffer.isView(value) && !(value instanceof DataView)) {
      visit(Array.from(value as unknown as ArrayLike<number>), path, depth);
    } else if (depth < MAX_DEPTH && Array.isArray(value)) value.forEach((v, i) => visit(v, `${path}[${i}]`, depth + 1));
    else if (depth < MAX_DEPTH && typeof value === "object" && value !== null)
      for (const [k, v] of Object.entries(value)) visit(v, /^[A-Za-z_$][\w$-]*$/.test(k) ? `${path}.${k}` : `${path}[${JSON.stringify(k)}]`, depth + 1);
  };
  visit(message.payload, "payload", 0);
  return out;
}

/** Per feature path: its values in a window, in message order (messages lacking it leave it out). */
export function columns(messages: readonly Message[]): Map<string, Leaf[]> {
  const out = new Map<string, Leaf[]>();
  for (const m of messages)
    for (const [path, v] of features(m)) {
      let column = out.get(path);
      if (!column) out.set(path, (column = []));
      column.push(v);
    }
  return out;
}
