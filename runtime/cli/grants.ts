/**
 * `--grant <list>`: the capabilities a process lets nodes use, for `run`/`serve` and
 * `worker` alike — a comma list of CAPABILITIES, or `all`, or `none`. An unknown name
 * is an error (exit 2 from the caller), not something silently dropped.
 */
import { CAPABILITIES, type Capability } from "../../sdk/contract";

export const GRANT_LIST_HELP = `a comma list of ${CAPABILITIES.join(", ")}, or all, or none`;

/** The capabilities `list` names; throws an Error naming what it does not know. */
export function parseGrants(list: string): Capability[] {
  if (list === "all") return [...CAPABILITIES];
  if (list === "none") return [];
  const names = list.split(",").map((s) => s.trim()).filter(Boolean);
  const unknown = names.filter((n) => !(CAPABILITIES as readonly string[]).includes(n));
  if (unknown.length) throw new Error(`--grant: unknown capability ${unknown.join(", ")} (known: ${CAPABILITIES.join(", ")}, or all, none)`);
  return names as Capability[];
}
