/**
 * The SDK check: a node package says which SDK it was built for (`"evoflow": { "sdk": "^1" }`);
 * another major than this runtime's `sdkVersion` is refused, since a major may change or remove
 * what the SDK holds. Minors only add, so `^1.2` loads on any SDK 1.x from 1.2 (and `~1.2`
 * reads the same: a package made for 1.2 works on 1.5). The ranges are the npm forms a package
 * would give a peer dependency, read here by hand: only the major and minor matter.
 */
const RANGE = /^\s*[\^~]?\s*(\d+)(?:\.(\d+|x|\*))?(?:\.(\d+|x|\*))?\s*$/;

/** Why a package built for SDK `range` cannot load on SDK `version`, or undefined when it can. */
export function sdkRangeProblem(range: string, version: string): string | undefined {
  const m = RANGE.exec(range);
  if (!m) return `its SDK range "${range}" is not one this runtime reads: give the SDK major it was built for, e.g. "^${majorOf(version)}"`;
  const [major, minor] = version.split(".").map(Number);
  const wantMajor = Number(m[1]);
  const wantMinor = m[2] === undefined || m[2] === "x" || m[2] === "*" ? 0 : Number(m[2]);
  if (wantMajor !== major) return `it is built for evoflow SDK ${range.trim()}, and this runtime's SDK is ${version}: install a version of it made for SDK ${major}`;
  if (wantMinor > minor) return `it needs evoflow SDK ${range.trim()}, and this runtime's SDK is ${version}: update Evoflow`;
  return undefined;
}

function majorOf(version: string): string {
  return version.split(".")[0];
}
