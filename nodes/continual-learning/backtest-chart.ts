/**
 * `evoflow cl backtest`'s chart as a standalone SVG, drawn as bench/cl-chart.ts draws the CL
 * bench's (no chart library in a CLI that writes one file): left, accuracy on the newest window
 * by the age of the window trained on; right, each schedule's windowed prequential accuracy
 * with its retrainings marked, and its accuracy and compute in the legend.
 */
import type { BacktestResult } from "./backtest";

const COLORS = ["#888888", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf", "#d62728"];
const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
const pct = (v: number) => `${(100 * v).toFixed(1)}%`;

interface Panel {
  left: number;
  right: number;
  top: number;
  bottom: number;
}

function axes(out: string[], p: Panel, title: string, xLabel: string): (v: number) => number {
  const y = (v: number) => p.top + (1 - v) * (p.bottom - p.top);
  out.push(`<text x="${p.left}" y="${p.top - 12}" font-size="13" font-weight="bold">${esc(title)}</text>`);
  for (let t = 0; t <= 10; t += 2) {
    out.push(`<line x1="${p.left}" x2="${p.right}" y1="${y(t / 10)}" y2="${y(t / 10)}" stroke="#eee"/>`);
    out.push(`<text x="${p.left - 6}" y="${y(t / 10) + 4}" text-anchor="end">${t * 10}%</text>`);
  }
  out.push(`<line x1="${p.left}" x2="${p.left}" y1="${p.top}" y2="${p.bottom}" stroke="#333"/><line x1="${p.left}" x2="${p.right}" y1="${p.bottom}" y2="${p.bottom}" stroke="#333"/>`);
  out.push(`<text x="${(p.left + p.right) / 2}" y="${p.bottom + 34}" text-anchor="middle">${esc(xLabel)}</text>`);
  return y;
}

export function backtestChartSvg(result: BacktestResult, title: string): string {
  const [W, H] = [1100, 470];
  const out: string[] = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`, `<rect width="${W}" height="${H}" fill="white"/>`];
  out.push(`<text x="20" y="24" font-size="15" font-weight="bold">${esc(title)}</text>`);

  // Freshness: one point per window age.
  const fp: Panel = { left: 60, right: 330, top: 70, bottom: 400 };
  const fy = axes(out, fp, "(a) freshness: accuracy on the newest window", "age of the training window (windows before the newest)");
  const ages = result.freshness.map((r) => r.age);
  const fx = (age: number) => fp.left + ((age - 0.5) / Math.max(...ages)) * (fp.right - fp.left);
  for (const r of result.freshness) out.push(`<text x="${fx(r.age)}" y="${fp.bottom + 16}" text-anchor="middle">${r.age}</text>`);
  out.push(`<polyline fill="none" stroke="#1f77b4" stroke-width="2" points="${result.freshness.map((r) => `${fx(r.age).toFixed(1)},${fy(r.accuracy).toFixed(1)}`).join(" ")}"/>`);
  for (const r of result.freshness) {
    out.push(`<circle cx="${fx(r.age)}" cy="${fy(r.accuracy)}" r="4" fill="#1f77b4"/>`);
    out.push(`<text x="${fx(r.age)}" y="${fy(r.accuracy) - 8}" text-anchor="middle" font-size="10">${pct(r.accuracy)}</text>`);
  }

  // Schedules: windowed accuracy over the replay.
  const sp: Panel = { left: 400, right: 780, top: 70, bottom: 400 };
  const sy = axes(out, sp, "(b) schedules: prequential accuracy", `sample (accuracy over each ${result.curveEvery}; ● retraining)`);
  const first = result.windows[0].to;
  const sx = (i: number) => sp.left + ((i - first) / (result.samples - first)) * (sp.right - sp.left);
  for (const t of [first, Math.round((first + result.samples) / 2), result.samples]) out.push(`<text x="${sx(t)}" y="${sp.bottom + 16}" text-anchor="middle">${t}</text>`);
  const newest = result.windows.at(-1)!.from;
  out.push(`<line x1="${sx(newest)}" x2="${sx(newest)}" y1="${sp.top}" y2="${sp.bottom}" stroke="#555" stroke-dasharray="5,4"/><text x="${sx(newest) + 4}" y="${sp.top + 12}" fill="#555">newest window</text>`);
  result.schedules.forEach((s, k) => {
    const color = COLORS[k % COLORS.length];
    out.push(`<polyline fill="none" stroke="${color}" stroke-width="2" points="${s.curve.map((c) => `${sx(c.end).toFixed(1)},${sy(c.accuracy).toFixed(1)}`).join(" ")}"/>`);
    for (const at of s.retrainedAt) {
      const point = s.curve.find((c) => c.end >= at) ?? s.curve.at(-1)!;
      out.push(`<circle cx="${sx(at).toFixed(1)}" cy="${sy(point.accuracy).toFixed(1)}" r="3" fill="${color}"/>`);
    }
    const ly = sp.top + k * 50;
    const lx = sp.right + 24;
    out.push(`<line x1="${lx}" x2="${lx + 22}" y1="${ly}" y2="${ly}" stroke="${color}" stroke-width="3"/>`);
    out.push(`<text x="${lx + 28}" y="${ly + 4}" font-weight="bold">${esc(s.schedule)}</text>`);
    out.push(`<text x="${lx + 28}" y="${ly + 19}">accuracy ${pct(s.accuracy)}, newest window ${pct(s.recentAccuracy)}</text>`);
    out.push(`<text x="${lx + 28}" y="${ly + 34}">${s.trainings} training${s.trainings === 1 ? "" : "s"}, ${s.cpuSeconds.toFixed(1)} CPU-s, ${s.samplesSeen.toLocaleString("en")} samples</text>`);
  });
  out.push("</svg>");
  return `${out.join("\n")}\n`;
}
