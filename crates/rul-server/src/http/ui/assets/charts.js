// Charts drawn as SVG by the page (no library): scales, axes, a line chart with bands, a histogram, an
// interval bar and a reliability diagram. Sizes are in viewBox units; CSS scales the SVG to its container, and
// the views pass their container's pixel width so that text keeps its size.

import { svg, fmt } from './dom.js';

/** A linear map from [d0, d1] onto [r0, r1]. */
export function scale(d0, d1, r0, r1) {
  const span = d1 - d0 || 1;
  return (v) => r0 + ((v - d0) / span) * (r1 - r0);
}

/** About `n` round tick values covering [min, max]. */
export function ticks(min, max, n = 5) {
  if (!(max > min)) return [min];
  const raw = (max - min) / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) || raw;
  const out = [];
  for (let v = Math.ceil(min / step) * step; v <= max + 1e-9; v += step) out.push(+v.toFixed(10));
  return out;
}

/** The extent of finite numbers, widened when empty or flat. */
export function extent(values, pad = 0) {
  const finite = values.filter((v) => Number.isFinite(v));
  if (finite.length === 0) return [0, 1];
  let lo = Math.min(...finite);
  let hi = Math.max(...finite);
  if (hi === lo) {
    lo -= 1;
    hi += 1;
  }
  const p = (hi - lo) * pad;
  return [lo - p, hi + p];
}

function pathOf(points) {
  return points.map(([x, y], i) => `${i ? 'L' : 'M'}${x.toFixed(1)},${y.toFixed(1)}`).join('');
}

function frame(width, height, label, cls) {
  return svg('svg', {
    viewBox: `0 0 ${width} ${height}`,
    class: 'chart ' + (cls || ''),
    role: 'img',
    'aria-label': label,
    preserveAspectRatio: 'xMidYMid meet',
  });
}

function axes(root, x, y, xTicks, yTicks, box, labels = {}) {
  const g = svg('g', { class: 'axes' });
  for (const t of yTicks) {
    g.append(svg('line', { x1: box.left, x2: box.right, y1: y(t), y2: y(t), class: 'grid' }));
    g.append(svg('text', { x: box.left - 4, y: y(t) + 3, class: 'tick', 'text-anchor': 'end', text: String(t) }));
  }
  for (const t of xTicks) {
    g.append(svg('text', { x: x(t), y: box.bottom + 12, class: 'tick', 'text-anchor': 'middle', text: String(t) }));
  }
  g.append(svg('line', { x1: box.left, x2: box.right, y1: box.bottom, y2: box.bottom, class: 'axis' }));
  if (labels.x) g.append(svg('text', { x: box.right, y: box.bottom + 24, class: 'label', 'text-anchor': 'end', text: labels.x }));
  if (labels.y) g.append(svg('text', { x: box.left, y: box.top - 6, class: 'label', text: labels.y }));
  root.append(g);
}

/**
 * A chart over x: `bands` [{lower: [[x,y]], upper: [[x,y]], class}], `lines` [{points, class}], `hlines`
 * [{y, class, label}], `marks` [{x, y, class, title}].
 */
export function lineChart({ width = 720, height = 300, label, cls, bands = [], lines = [], hlines = [], marks = [], xLabel, yLabel, yMin }) {
  const box = { left: 40, right: width - 18, top: 18, bottom: height - 28 };
  const xs = [...bands.flatMap((b) => b.lower.map((p) => p[0])), ...lines.flatMap((l) => l.points.map((p) => p[0]))];
  const ys = [
    ...bands.flatMap((b) => [...b.lower, ...b.upper].map((p) => p[1])),
    ...lines.flatMap((l) => l.points.map((p) => p[1])),
    ...hlines.map((h) => h.y),
    ...marks.map((m) => m.y),
  ];
  const [x0, x1] = extent(xs);
  let [y0, y1] = extent(ys, 0.05);
  if (yMin !== undefined) y0 = Math.min(yMin, y0);
  const x = scale(x0, x1, box.left, box.right);
  const y = scale(y0, y1, box.bottom, box.top);
  const root = frame(width, height, label, cls);
  axes(root, x, y, ticks(x0, x1, 6), ticks(y0, y1, 4), box, { x: xLabel, y: yLabel });
  for (const b of bands) {
    if (b.lower.length === 0) continue;
    const upper = b.upper.map(([px, py]) => [x(px), y(py)]);
    const lower = b.lower.map(([px, py]) => [x(px), y(py)]).reverse();
    root.append(svg('path', { d: pathOf([...upper, ...lower]) + 'Z', class: 'band ' + (b.class || '') }));
  }
  for (const h of hlines) {
    root.append(svg('line', { x1: box.left, x2: box.right, y1: y(h.y), y2: y(h.y), class: 'hline ' + (h.class || '') }));
    if (h.label) root.append(svg('text', { x: box.right - 2, y: y(h.y) - 3, 'text-anchor': 'end', class: 'hlabel ' + (h.class || ''), text: h.label }));
  }
  for (const l of lines) {
    if (l.points.length === 0) continue;
    root.append(svg('path', { d: pathOf(l.points.map(([px, py]) => [x(px), y(py)])), class: 'line ' + (l.class || '') }));
  }
  for (const m of marks) {
    root.append(svg('circle', { cx: x(m.x), cy: y(m.y), r: 3.5, class: 'mark ' + (m.class || '') }, svg('title', { text: m.title || '' })));
  }
  return root;
}

/** A histogram of `values` in bins of `binWidth` from 0, with an optional threshold line. */
export function histogram(values, { binWidth = 10, width = 720, height = 160, label, threshold, xLabel } = {}) {
  const box = { left: 40, right: width - 18, top: 14, bottom: height - 28 };
  const finite = values.filter((v) => Number.isFinite(v));
  const maxV = Math.max(binWidth, ...finite.map((v) => v + 1e-9));
  const bins = Array.from({ length: Math.ceil(maxV / binWidth) }, () => 0);
  for (const v of finite) bins[Math.max(0, Math.min(bins.length - 1, Math.floor(v / binWidth)))] += 1;
  const x = scale(0, bins.length * binWidth, box.left, box.right);
  const top = Math.max(1, ...bins);
  const y = scale(0, top, box.bottom, box.top);
  const root = frame(width, height, label, 'histogram');
  axes(root, x, y, ticks(0, bins.length * binWidth, 8), ticks(0, top, 3).filter((t) => Number.isInteger(t)), box, { x: xLabel, y: 'engines' });
  bins.forEach((count, i) => {
    if (count === 0) return;
    const lo = i * binWidth;
    const cls = threshold !== undefined && lo < threshold ? 'bar urgent' : 'bar';
    root.append(
      svg('rect', { x: x(lo) + 1, y: y(count), width: Math.max(1, x(lo + binWidth) - x(lo) - 2), height: box.bottom - y(count), class: cls },
        svg('title', { text: `${lo}–${lo + binWidth} cycles: ${count} engines` })),
    );
  });
  if (threshold !== undefined) {
    root.append(svg('line', { x1: x(threshold), x2: x(threshold), y1: box.top, y2: box.bottom, class: 'hline threshold' }));
  }
  return root;
}

/** A small horizontal bar of an interval [lower, upper] with its estimate, on a fixed [0, max] axis. */
export function intervalBar(p, max, threshold) {
  const width = 160;
  const height = 18;
  const root = svg('svg', { viewBox: `0 0 ${width} ${height}`, class: 'ibar', 'aria-hidden': 'true' });
  const x = scale(0, max, 2, width - 2);
  const clamp = (v) => Math.max(0, Math.min(max, v));
  root.append(svg('line', { x1: x(0), x2: x(max), y1: 9, y2: 9, class: 'track' }));
  if (threshold !== undefined) root.append(svg('line', { x1: x(threshold), x2: x(threshold), y1: 2, y2: 16, class: 'threshold' }));
  if (p) {
    const lo = clamp(p.lower);
    const hi = clamp(p.upper);
    const urgent = threshold !== undefined && p.lower < threshold;
    root.append(svg('rect', { x: x(lo), y: 5, width: Math.max(1, x(hi) - x(lo)), height: 8, rx: 2, class: urgent ? 'range urgent' : 'range' }));
    root.append(svg('line', { x1: x(clamp(p.rul)), x2: x(clamp(p.rul)), y1: 3, y2: 15, class: 'estimate' }));
  }
  return root;
}

/** Reliability diagram: stated confidence against observed frequency per bin, with the diagonal. */
export function reliabilityDiagram(bins, { width = 360, height = 300, label } = {}) {
  const box = { left: 40, right: width - 10, top: 18, bottom: height - 30 };
  const x = scale(0, 1, box.left, box.right);
  const y = scale(0, 1, box.bottom, box.top);
  const root = frame(width, height, label, 'reliability');
  const t = [0, 0.2, 0.4, 0.6, 0.8, 1];
  axes(root, x, y, t, t, box, { x: 'stated confidence', y: 'observed' });
  root.append(svg('line', { x1: x(0), y1: y(0), x2: x(1), y2: y(1), class: 'diagonal' }));
  const most = Math.max(1, ...bins.map((b) => b.count));
  const used = bins.filter((b) => b.count > 0);
  root.append(svg('path', { d: pathOf(used.map((b) => [x(b.mean_confidence), y(b.observed)])), class: 'line tracked' }));
  for (const b of used) {
    root.append(
      svg('circle', { cx: x(b.mean_confidence), cy: y(b.observed), r: 2.5 + 5 * Math.sqrt(b.count / most), class: 'mark reliability-point' },
        svg('title', { text: `confidence ${fmt(b.lo, 2)}–${fmt(b.hi, 2)}: stated ${fmt(b.mean_confidence, 2)}, observed ${fmt(b.observed, 2)} (${b.count})` })),
    );
  }
  return root;
}

// A bucket's edges; the last one has no upper edge (null).
const span = (b) => (Number.isFinite(b.hi) ? `${b.lo}–${b.hi}` : `${b.lo}+`);

/** Coverage of the interval by true-RUL bucket (bars) against the nominal level (line). */
export function coverageBars(buckets, level, { width = 360, height = 300, label } = {}) {
  const box = { left: 40, right: width - 10, top: 18, bottom: height - 30 };
  const n = Math.max(1, buckets.length);
  const band = (box.right - box.left) / n;
  const y = scale(0, 1, box.bottom, box.top);
  const root = frame(width, height, label, 'coverage');
  axes(root, () => 0, y, [], [0, 0.25, 0.5, 0.75, 1], box, { y: 'coverage' });
  buckets.forEach((b, i) => {
    const x = box.left + i * band;
    root.append(
      svg('rect', { x: x + 4, y: y(b.coverage), width: band - 8, height: box.bottom - y(b.coverage), class: 'bar' },
        svg('title', { text: `true RUL ${span(b)}: coverage ${fmt(b.coverage, 2)}, mean width ${fmt(b.mean_width, 1)} (${b.count})` })),
    );
    root.append(svg('text', { x: x + band / 2, y: box.bottom + 12, class: 'tick', 'text-anchor': 'middle', text: span(b) }));
  });
  if (Number.isFinite(level)) {
    root.append(svg('line', { x1: box.left, x2: box.right, y1: y(level), y2: y(level), class: 'hline threshold' }));
    root.append(svg('text', { x: box.right - 2, y: y(level) - 3, 'text-anchor': 'end', class: 'hlabel', text: `nominal ${fmt(level * 100)}%` }));
  }
  return root;
}
