/**
 * The SDK check: a node package says which SDK it was built for (`"evoflow": { "sdk": "^1" }`),
 * an npm range read by `semver` (as pipelines' `requires` are, runtime/requires.ts). What counts
 * is the lowest SDK the range allows, the one the package was built for: another major than this
 * runtime's `sdkVersion` is refused, since a major may change or remove what the SDK holds; minors
 * only add, so a package built for 1.2 loads on any SDK 1.x from 1.2 (`~1.2` reads as `^1.2`).
 */
import semver from "semver";

/** Why a package built for SDK `range` cannot load on SDK `version`, or undefined when it can. */
export function sdkRangeProblem(range: string, version: string): string | undefined {
  const builtFor = semver.validRange(range) ? semver.minVersion(range) : null;
  const major = semver.major(version);
  if (!builtFor) return `its SDK range "${range}" is not an npm version range: give the SDK major it was built for, e.g. "^${major}"`;
  if (builtFor.major !== major) return `it is built for evoflow SDK ${range.trim()}, and this runtime's SDK is ${version}: install a version of it made for SDK ${major}`;
  if (semver.gt(builtFor, version)) return `it needs evoflow SDK ${range.trim()}, and this runtime's SDK is ${version}: update Evoflow`;
  return undefined;
}
