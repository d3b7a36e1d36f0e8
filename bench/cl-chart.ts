/** The demo's chart as a standalone SVG: windowed stream accuracy per strategy, shifts and model updates marked. */
import type { DemoResult } from "./cl-demo";

const COLORS: Record<string, string> = { static: "#888888", stateless: "#1f77b4", stateful: "#d62728", "stateful-si": "#9467bd", "online-logreg": "#2ca02c", "online-tree": "#ff7f0e" };

/** The plotted line's height at request `at` (linear between window points), so update markers sit on it. */
function onLine(windows: { end: number; accuracy: number }[], at: number): number {
  const next = windows.findIndex((w) => w.end >= at);
  if (next <= 0) return (windows[Math.max(0, next)] ?? windows.at(-1)!).accuracy;
  const [a, b] = [windows[next - 1], windows[next]];
  return a.accuracy + ((b.accuracy - a.accuracy) * (at - a.end)) / (b.end - a.end);
}

export function demoChartSvg(result: DemoResult, title: string): string {
  const [W, H] = [900, 460];
  const m = { left: 60, right: 250, top: 40, bottom: 50 };
  const total = result.options.phases.reduce((a, p) => a + p.count, 0);
  const x = (v: number) => m.left + (v / total) * (W - m.left - m.right);
  const y = (v: number) => m.top + (1 - v) * (H - m.top - m.bottom);
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`);
  out.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  out.push(`<text x="${m.left}" y="22" font-size="15" font-weight="bold">${title}</text>`);
  for (let t = 0; t <= 10; t += 2) {
    const v = t / 10;
    out.push(`<line x1="${m.left}" x2="${W - m.right}" y1="${y(v)}" y2="${y(v)}" stroke="#eee"/>`);
    out.push(`<text x="${m.left - 8}" y="${y(v) + 4}" text-anchor="end">${(v * 100).toFixed(0)}%</text>`);
  }
  const step = total > 10_000 ? 2000 : 1000;
  for (let v = 0; v <= total; v += step) out.push(`<text x="${x(v)}" y="${H - m.bottom + 18}" text-anchor="middle">${v}</text>`);
  out.push(`<text x="${(m.left + W - m.right) / 2}" y="${H - 12}" text-anchor="middle">requests served (windowed accuracy over ${result.options.window}; labels arrive ${result.options.labelDelay} requests late)</text>`);
  out.push(`<line x1="${m.left}" x2="${m.left}" y1="${m.top}" y2="${H - m.bottom}" stroke="#333"/><line x1="${m.left}" x2="${W - m.right}" y1="${H - m.bottom}" y2="${H - m.bottom}" stroke="#333"/>`);
  for (const s of result.shifts) {
    out.push(`<line x1="${x(s.at)}" x2="${x(s.at)}" y1="${m.top}" y2="${H - m.bottom}" stroke="#555" stroke-dasharray="5,4"/>`);
    out.push(`<text x="${x(s.at) + 4}" y="${m.top + 12}" fill="#555">shift: ${s.name}</text>`);
  }
  result.strategies.forEach((s, k) => {
    const color = COLORS[s.strategy] ?? "#000";
    const points = s.windows.map((w) => `${x(w.end).toFixed(1)},${y(w.accuracy).toFixed(1)}`).join(" ");
    out.push(`<polyline fill="none" stroke="${color}" stroke-width="2" points="${points}"/>`);
    for (const u of s.updates) {
      const level = onLine(s.windows, u.at);
      if (u.decision === "promoted") out.push(`<circle cx="${x(u.at)}" cy="${y(level)}" r="4" fill="${color}"/>`);
      else out.push(`<text x="${x(u.at)}" y="${y(level) + 4}" text-anchor="middle" fill="${color}" font-weight="bold">×</text>`);
    }
    const ly = m.top + 10 + k * 62;
    const lx = W - m.right + 16;
    out.push(`<line x1="${lx}" x2="${lx + 24}" y1="${ly}" y2="${ly}" stroke="${color}" stroke-width="3"/>`);
    out.push(`<text x="${lx + 30}" y="${ly + 4}" font-weight="bold">${s.strategy}</text>`);
    out.push(`<text x="${lx + 30}" y="${ly + 20}">final accuracy ${(100 * s.finalAccuracy).toFixed(1)}%</text>`);
    out.push(`<text x="${lx + 30}" y="${ly + 35}">compute ${s.compute.trainingSeconds.toFixed(1)} s, ${s.compute.samplesSeen.toLocaleString("en")} samples</text>`);
    out.push(`<text x="${lx + 30}" y="${ly + 50}">${s.updates.filter((u) => u.decision === "promoted").length} promoted, ${s.updates.filter((u) => u.decision === "rejected").length} rejected</text>`);
  });
  const ly = m.top + 10 + result.strategies.length * 62;
  out.push(`<circle cx="${W - m.right + 22}" cy="${ly}" r="4" fill="#333"/><text x="${W - m.right + 46}" y="${ly + 4}">promoted update</text>`);
  out.push(`<text x="${W - m.right + 22}" y="${ly + 22}" text-anchor="middle" font-weight="bold">×</text><text x="${W - m.right + 46}" y="${ly + 22}">rejected by the gate</text>`);
  out.push(`</svg>`);
  return out.join("\n") + "\n";
}
