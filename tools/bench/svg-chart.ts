// A small hand-written SVG line chart: one or more panels side by side, log-scale x (connections),
// log-scale y (latency spans two or three decades between a direct path and two proxies), axes, tick
// labels, a legend. No chart library: the output is plain SVG 1.1 text that any browser or rsvg renders.

export interface Point { x: number; y: number }
export interface Series { name: string; color: string; points: Point[]; dashed?: boolean }
export interface Panel { title: string; series: Series[] }
export interface ChartSpec {
  title: string;
  xLabel: string;
  yLabel: string;
  panels: Panel[];
  /** Label text of an x value (default: the number). */
  formatX?: (x: number) => string;
  /** Label text of a y value (default: the number). */
  formatY?: (y: number) => string;
  panelWidth?: number;
  panelHeight?: number;
}

const MARGIN = { top: 70, right: 24, bottom: 96, left: 78 };
const PANEL_GAP = 40;
const FONT = 'font-family="DejaVu Sans, Helvetica, Arial, sans-serif"';

export function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** 1-2-5 ticks of each decade inside [min, max]. */
export function logTicks(min: number, max: number): number[] {
  const ticks: number[] = [];
  for (let e = Math.floor(Math.log10(min)); e <= Math.ceil(Math.log10(max)); e++) {
    for (const m of [1, 2, 5]) {
      const v = m * 10 ** e;
      if (v >= min * 0.999 && v <= max * 1.001) ticks.push(v);
    }
  }
  return ticks;
}

/** A log axis range that starts and ends on 1-2-5 steps around the data. */
function niceLogRange(values: number[]): [number, number] {
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  const down = (v: number): number => {
    const e = 10 ** Math.floor(Math.log10(v));
    return ([5, 2, 1].map((m) => m * e).find((s) => s <= v) ?? e);
  };
  const up = (v: number): number => {
    const e = 10 ** Math.floor(Math.log10(v));
    return ([1, 2, 5, 10].map((m) => m * e).find((s) => s >= v) ?? 10 * e);
  };
  return [down(lo), up(hi)];
}

export function renderLineChart(spec: ChartSpec): string {
  const pw = spec.panelWidth ?? 440;
  const ph = spec.panelHeight ?? 320;
  const fx = spec.formatX ?? ((x: number) => String(x));
  const fy = spec.formatY ?? ((y: number) => String(y));
  const all = spec.panels.flatMap((p) => p.series.flatMap((s) => s.points)).filter((p) => p.x > 0 && p.y > 0);
  if (all.length === 0) throw new Error(`chart "${spec.title}" has no positive data point to draw`);

  const xValues = [...new Set(all.map((p) => p.x))].sort((a, b) => a - b);
  const xMin = xValues[0];
  const xMax = xValues[xValues.length - 1] === xMin ? xMin * 2 : xValues[xValues.length - 1];
  const [yMin, yMax] = niceLogRange(all.map((p) => p.y));
  // Half a step of padding either side of x so the first and last markers do not sit on the axes.
  const xPad = (Math.log(xMax) - Math.log(xMin)) * 0.05;
  const xs = (x: number): number => ((Math.log(x) - Math.log(xMin) + xPad) / (Math.log(xMax) - Math.log(xMin) + 2 * xPad)) * pw;
  const ys = (y: number): number => ph - ((Math.log(y) - Math.log(yMin)) / (Math.log(yMax) - Math.log(yMin))) * ph;

  const width = MARGIN.left + spec.panels.length * pw + (spec.panels.length - 1) * (PANEL_GAP + MARGIN.left) + MARGIN.right;
  const height = MARGIN.top + ph + MARGIN.bottom;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">`);
  out.push(`<rect x="0" y="0" width="${width}" height="${height}" fill="#ffffff"/>`);
  out.push(`<text x="${width / 2}" y="26" text-anchor="middle" font-size="17" font-weight="bold" ${FONT}>${escapeXml(spec.title)}</text>`);

  spec.panels.forEach((panel, i) => {
    const ox = MARGIN.left + i * (pw + PANEL_GAP + MARGIN.left);
    const oy = MARGIN.top;
    out.push(`<g transform="translate(${ox},${oy})">`);
    out.push(`<text x="${pw / 2}" y="-12" text-anchor="middle" font-size="14" ${FONT}>${escapeXml(panel.title)}</text>`);
    // Grid and y ticks.
    for (const t of logTicks(yMin, yMax)) {
      const y = ys(t).toFixed(1);
      const major = Math.abs(Math.log10(t) - Math.round(Math.log10(t))) < 1e-9;
      out.push(`<line x1="0" y1="${y}" x2="${pw}" y2="${y}" stroke="${major ? '#c8c8c8' : '#ececec'}" stroke-width="1"/>`);
      out.push(`<text x="-8" y="${y}" dy="4" text-anchor="end" font-size="11" ${FONT}>${escapeXml(fy(t))}</text>`);
    }
    // x ticks at the measured connection counts.
    for (const t of xValues) {
      const x = xs(t).toFixed(1);
      out.push(`<line x1="${x}" y1="0" x2="${x}" y2="${ph}" stroke="#ececec" stroke-width="1"/>`);
      out.push(`<text x="${x}" y="${ph + 18}" text-anchor="middle" font-size="11" ${FONT}>${escapeXml(fx(t))}</text>`);
    }
    out.push(`<rect x="0" y="0" width="${pw}" height="${ph}" fill="none" stroke="#333333" stroke-width="1"/>`);
    out.push(`<text x="${pw / 2}" y="${ph + 40}" text-anchor="middle" font-size="12" ${FONT}>${escapeXml(spec.xLabel)}</text>`);
    out.push(`<text transform="translate(${-MARGIN.left + 16},${ph / 2}) rotate(-90)" text-anchor="middle" font-size="12" ${FONT}>${escapeXml(spec.yLabel)}</text>`);
    for (const s of panel.series) {
      const pts = s.points.filter((p) => p.x > 0 && p.y > 0).sort((a, b) => a.x - b.x);
      if (pts.length === 0) continue;
      const d = pts.map((p, k) => `${k === 0 ? 'M' : 'L'}${xs(p.x).toFixed(1)},${ys(p.y).toFixed(1)}`).join(' ');
      out.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6,4"' : ''}/>`);
      for (const p of pts) out.push(`<circle cx="${xs(p.x).toFixed(1)}" cy="${ys(p.y).toFixed(1)}" r="3.5" fill="${s.color}"/>`);
    }
    out.push('</g>');
  });

  // One legend for all panels, below the x-axis labels; items sized by their text (~6.8 px a character
  // at 12 px) so long labels never overlap.
  const names = new Map<string, Series>();
  for (const p of spec.panels) for (const s of p.series) if (s.points.length > 0 && !names.has(s.name)) names.set(s.name, s);
  const itemWidths = [...names.values()].map((s) => 32 + s.name.length * 6.8 + 28);
  const legendY = MARGIN.top + ph + 70;
  let lx = Math.max(10, (width - itemWidths.reduce((a, b) => a + b, 0)) / 2);
  [...names.values()].forEach((s, k) => {
    out.push(`<line x1="${lx}" y1="${legendY}" x2="${lx + 26}" y2="${legendY}" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6,4"' : ''}/>`);
    out.push(`<circle cx="${lx + 13}" cy="${legendY}" r="3.5" fill="${s.color}"/>`);
    out.push(`<text x="${lx + 32}" y="${legendY + 4}" font-size="12" ${FONT}>${escapeXml(s.name)}</text>`);
    lx += itemWidths[k];
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}

/** 50 → "50 µs", 1500 → "1.5 ms", 2000000 → "2 s". */
export function formatMicros(us: number): string {
  if (us >= 1e6) return `${trim(us / 1e6)} s`;
  if (us >= 1e3) return `${trim(us / 1e3)} ms`;
  return `${trim(us)} µs`;
}

function trim(v: number): string {
  return v >= 100 ? v.toFixed(0) : v >= 10 ? String(Number(v.toFixed(1))) : String(Number(v.toFixed(2)));
}
