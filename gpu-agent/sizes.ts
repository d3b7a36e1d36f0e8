/** Memory sizes as people write them (`--memory 2GiB`) and as the agent prints them. */
/** Parses a memory size: `512MB`, `1.5GiB`, `64k`, `1048576` (bytes). Decimal units are powers of 1000, `i` units of 1024. */
export function parseSize(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?)b?\s*$/i.exec(text);
  if (!m) throw new Error(`invalid size "${text}": use e.g. 512MB, 2GiB or a number of bytes`);
  const power = " kmgt".indexOf(m[2].toLowerCase() || " ");
  const bytes = Number(m[1]) * (m[3] ? 1024 : 1000) ** power;
  if (!Number.isFinite(bytes) || bytes <= 0) throw new Error(`invalid size "${text}"`);
  return Math.round(bytes);
}

export function formatSize(bytes: number): string {
  const units = ["B", "KB", "MB", "GB", "TB"];
  let v = bytes;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${v.toFixed(v < 10 && i > 0 ? 1 : 0)}${units[i]}`;
}
