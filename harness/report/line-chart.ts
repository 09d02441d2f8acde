import { escapeHtml } from './escape-html.ts';

export interface ChartWindow {
  start: number;
  end: number;
  label: string;
}

export interface LineChartOptions {
  title: string;
  /** Points in time order; `t` in ms on the same clock as the windows. */
  points: Array<{ t: number; v: number }>;
  /** Shaded spans, e.g. the time a fault was active. */
  windows?: ChartWindow[];
  /** Formats a y value for ticks and tooltips. */
  format(v: number): string;
  /** Lowest upper bound of the y axis, so a flat series near 0 is not blown up. */
  minYMax?: number;
  width?: number;
  height?: number;
}

const M = { left: 56, right: 12, top: 20, bottom: 28 };

/** A step nice for ticks: 1, 2 or 5 × 10^n at or above `raw`. */
function niceStep(raw: number): number {
  const p = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw) ?? 10 * p;
}

/**
 * An inline SVG line chart (no xmlns, no external references: it lives inside
 * an HTML page). The x axis is seconds since the first point or window; each
 * window is a shaded `<rect class="fault">` with its label as a tooltip.
 */
export function lineChart(o: LineChartOptions): string {
  const width = o.width ?? 640;
  const height = o.height ?? 180;
  const pts = o.points.filter((p) => Number.isFinite(p.t) && Number.isFinite(p.v)).sort((a, b) => a.t - b.t);
  const wins = (o.windows ?? []).filter((w) => Number.isFinite(w.start) && Number.isFinite(w.end) && w.end >= w.start);
  const ts = [...pts.map((p) => p.t), ...wins.flatMap((w) => [w.start, w.end])];
  const head = `<svg class="chart" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="${escapeHtml(o.title)}"><title>${escapeHtml(o.title)}</title>`;
  if (!ts.length) return `${head}<text x="${width / 2}" y="${height / 2}" text-anchor="middle" class="empty">no samples</text></svg>`;

  const t0 = Math.min(...ts);
  const t1 = Math.max(...ts, t0 + 1);
  const yStep = niceStep(Math.max(o.minYMax ?? 0, ...pts.map((p) => p.v), Number.EPSILON) / 4);
  const yMax = yStep * Math.ceil(Math.max(o.minYMax ?? 0, ...pts.map((p) => p.v), Number.EPSILON) / yStep);
  const plotW = width - M.left - M.right;
  const plotH = height - M.top - M.bottom;
  const x = (t: number) => M.left + ((t - t0) / (t1 - t0)) * plotW;
  const y = (v: number) => M.top + plotH - (Math.max(0, v) / yMax) * plotH;
  const r = (n: number) => Math.round(n * 10) / 10;

  const parts: string[] = [head];
  wins.forEach((w, i) => {
    parts.push(`<rect class="fault" x="${r(x(w.start))}" y="${M.top}" width="${r(Math.max(1, x(w.end) - x(w.start)))}" height="${plotH}"><title>${escapeHtml(w.label)}</title></rect>`);
    // Labels stack downwards so overlapping windows stay readable.
    parts.push(`<text class="fault-label" x="${r(x(w.start) + 3)}" y="${M.top + 11 + (i % 4) * 11}">${escapeHtml(w.label)}</text>`);
  });
  for (let v = 0; v <= yMax + yStep / 2; v += yStep) {
    parts.push(`<line class="grid" x1="${M.left}" x2="${width - M.right}" y1="${r(y(v))}" y2="${r(y(v))}"/>`, `<text class="tick" x="${M.left - 6}" y="${r(y(v) + 4)}" text-anchor="end">${escapeHtml(o.format(v))}</text>`);
  }
  const xStep = niceStep((t1 - t0) / 1000 / 5) * 1000;
  for (let t = 0; t <= t1 - t0 + 1e-9; t += xStep) {
    parts.push(`<text class="tick" x="${r(x(t0 + t))}" y="${height - 8}" text-anchor="middle">${escapeHtml(`${Math.round((t / 1000) * 10) / 10} s`)}</text>`);
  }
  parts.push(`<line class="axis" x1="${M.left}" x2="${width - M.right}" y1="${M.top + plotH}" y2="${M.top + plotH}"/>`);
  if (pts.length) {
    const d = pts.map((p, i) => `${i ? 'L' : 'M'}${r(x(p.t))},${r(y(p.v))}`).join(' ');
    parts.push(`<path class="line" d="${d}"/>`);
    for (const p of pts) parts.push(`<circle class="dot" cx="${r(x(p.t))}" cy="${r(y(p.v))}" r="2"><title>${escapeHtml(`${Math.round((p.t - t0) / 100) / 10} s: ${o.format(p.v)}`)}</title></circle>`);
  }
  parts.push('</svg>');
  return parts.join('');
}
