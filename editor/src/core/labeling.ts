/**
 * The labeling page's rules, framework-free: how an item is shown (an image-shaped tensor as an
 * image, a record as a table of fields, anything else as JSON), the label choices and their keys
 * (digits 1–9 then 0 for the first ten classes, letters after), and what a key press does.
 */
import type { LabelGuess, LabelItem } from "../../../sdk";
import { findTensors, imageShape, type TensorLike } from "../TensorView";

export interface Choice {
  label: number;
  name: string;
  key: string;
}

const KEYS = "1234567890qwertyuiopasdfghjklzxcvbnm";

/** One choice per class, with its key; without class names, one per guess the model gave. */
export function choicesOf(classes: readonly string[] | undefined, guesses: readonly LabelGuess[]): Choice[] {
  const labels = classes ? classes.map((name, label) => ({ label, name })) : [...guesses].sort((a, b) => a.label - b.label).map((g) => ({ label: g.label, name: g.name ?? String(g.label) }));
  return labels.slice(0, KEYS.length).map((c, i) => ({ ...c, key: KEYS[i] }));
}

export type KeyAction = { kind: "label"; label: number } | { kind: "skip" } | undefined;

/** What a key press does: a choice's key labels, `s` or Escape skips. */
export function keyAction(key: string, choices: readonly Choice[]): KeyAction {
  if (key === "Escape" || key === "s" || key === "S") return { kind: "skip" };
  const choice = choices.find((c) => c.key === key.toLowerCase());
  return choice ? { kind: "label", label: choice.label } : undefined;
}

export type ItemView = { kind: "image"; tensor: TensorLike } | { kind: "record"; rows: [string, string][] } | { kind: "json"; text: string };

/** How to show what the labeler labels. */
export function itemView(input: unknown): ItemView {
  const tensor = findTensors(input)[0];
  if (tensor && imageShape(tensor)) return { kind: "image", tensor };
  if (typeof input === "object" && input !== null && !Array.isArray(input))
    return { kind: "record", rows: Object.entries(input as Record<string, unknown>).map(([k, v]) => [k, typeof v === "string" ? v : JSON.stringify(v)]) };
  return { kind: "json", text: JSON.stringify(input) };
}

/** A guess as the page lists it: `Sandal 62%`. */
export function guessText(g: LabelGuess): string {
  return `${g.name ?? g.label} ${(g.p * 100).toFixed(0)}%`;
}

/** Who labelled an item, and when, in words. */
export function labelledBy(item: LabelItem, classes?: readonly string[]): string | undefined {
  if (!item.label) return undefined;
  const value = typeof item.label.value === "number" && classes?.[item.label.value] !== undefined ? classes[item.label.value] : String(item.label.value);
  return `${value} by ${item.label.labeler} at ${new Date(item.label.at).toLocaleString("en-GB")}`;
}
