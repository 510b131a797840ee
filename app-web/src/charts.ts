/**
 * Charts of measurements over time (Chart.js, tree-shaken to what a line chart needs), each series with its
 * reference range as a shaded band (a chart of components, such as blood pressure, has one band per component), a
 * text summary for screen readers and the values as a table. The caption says where each range comes from.
 */
import { Chart, Filler, Legend, LinearScale, LineController, LineElement, PointElement, Tooltip } from 'chart.js';
import { h } from './dom';
import { dateText } from './fhir-util';

Chart.register(LineController, LineElement, PointElement, LinearScale, Tooltip, Legend, Filler);

export interface Point {
  t: number;
  v: number;
}
export interface Series {
  label: string;
  points: Point[];
  /** Its reference range, when known (the data's, else a typical one: `source` says which). */
  range?: Range;
}
export interface Range {
  low?: number;
  high?: number;
  source: string;
}

// colour-blind-safe, ≥ 3:1 against white (WCAG 1.4.11 non-text contrast)
const COLOURS = ['#0b5cad', '#b3261e', '#1e7b34', '#7a4b00'];
/** The band of a single series' range. */
const BAND = '#1e7b34';
/** Label prefix of the (unlabelled) lower edge of a band. */
const REFERENCE_LOW = 'Reference low';

const dayFmt = new Intl.DateTimeFormat('en-IN', { month: 'short', year: 'numeric' });

export function chartFigure(opts: { id: string; title: string; unit: string; series: Series[] }): {
  el: HTMLElement;
  destroy(): void;
} {
  const { id, title, unit, series } = opts;
  const all = series.flatMap((s) => s.points);
  const reference = referenceText(series, unit);
  const canvas = h('canvas', {
    id: `${id}-canvas`,
    role: 'img',
    'aria-label': `${title}: ${all.length} values${reference ? `, reference range ${reference}` : ''}. The values are listed in the table below the chart.`,
  });
  const latest = series.map((s) => {
    const last = s.points[s.points.length - 1];
    return last ? `${s.label} ${last.v} ${unit} on ${dateText(new Date(last.t).toISOString())}` : '';
  });
  const table = h(
    'table',
    { class: 'list compact' },
    h('caption', {}, `${title} values`),
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Date'), ...series.map((s) => h('th', { scope: 'col' }, `${s.label} (${unit})`)))),
    h(
      'tbody',
      {},
      [...new Set(all.map((p) => p.t))]
        .sort((a, b) => b - a)
        .map((t) =>
          h(
            'tr',
            {},
            h('td', {}, dateText(new Date(t).toISOString())),
            ...series.map((s) => h('td', {}, String(s.points.find((p) => p.t === t)?.v ?? ''))),
          ),
        ),
    ),
  );
  const el = h(
    'figure',
    { class: 'chart', id, 'data-points': all.length, 'aria-labelledby': `${id}-caption` },
    h(
      'figcaption',
      { id: `${id}-caption` },
      h('strong', {}, title),
      ` (${unit})`,
      reference ? h('span', { class: 'range' }, ` · reference ${reference}`) : null,
    ),
    h('div', { class: 'chart-box' }, canvas),
    h('p', { class: 'latest' }, `Latest: ${latest.filter(Boolean).join('; ')}`),
    h('details', {}, h('summary', {}, 'Values as a table'), table),
  );
  const t0 = Math.min(...all.map((p) => p.t));
  const t1 = Math.max(...all.map((p) => p.t));
  const datasets: Chart<'line'>['data']['datasets'] = series.map((s, i) => ({
    label: s.label,
    data: s.points.map((p) => ({ x: p.t, y: p.v })),
    borderColor: COLOURS[i % COLOURS.length],
    backgroundColor: COLOURS[i % COLOURS.length],
    pointRadius: s.points.length > 60 ? 1.5 : 3,
    borderWidth: 2,
    tension: 0,
  }));
  // one shaded band per series with a range: a dashed line at its low and one at its high, filled between
  const ys = all.map((p) => p.v);
  for (const [i, s] of series.entries()) {
    const r = s.range;
    if (!r || (r.low === undefined && r.high === undefined)) continue;
    const low = r.low ?? Math.min(0, ...ys);
    const high = r.high ?? Math.max(...ys) * 1.1;
    const colour = series.length > 1 ? COLOURS[i % COLOURS.length] : BAND;
    const line = { borderColor: tint(colour, 0.6), borderDash: [4, 4], borderWidth: 1, pointRadius: 0 };
    datasets.push(
      {
        label: `${REFERENCE_LOW} ${i}`,
        data: [
          { x: t0, y: low },
          { x: t1, y: low },
        ],
        ...line,
        fill: false,
      },
      {
        label: series.length > 1 ? `${s.label} reference range` : 'Reference range',
        data: [
          { x: t0, y: high },
          { x: t1, y: high },
        ],
        ...line,
        backgroundColor: tint(colour, 0.12),
        fill: '-1',
      },
    );
  }
  const chart = new Chart(canvas, {
    type: 'line',
    data: { datasets },
    options: {
      animation: false,
      responsive: true,
      maintainAspectRatio: false,
      parsing: false,
      normalized: true,
      scales: {
        x: {
          type: 'linear',
          min: t0 === t1 ? t0 - 86_400_000 : t0,
          max: t0 === t1 ? t1 + 86_400_000 : t1,
          ticks: { maxTicksLimit: 6, callback: (v) => dayFmt.format(new Date(Number(v))) },
        },
        y: { title: { display: true, text: unit } },
      },
      plugins: {
        legend: { labels: { filter: (item) => !item.text.startsWith(REFERENCE_LOW) } },
        tooltip: { callbacks: { title: (items) => dateText(new Date(Number(items[0]?.parsed.x)).toISOString()) } },
      },
    },
  });
  return { el, destroy: () => chart.destroy() };
}

/**
 * The reference ranges in words: `4–5.6 % (from the lab)` for one series; per series for several
 * (`systolic 90–139 mmHg, diastolic 60–89 mmHg (from the record)`), each with its source when they differ.
 */
function referenceText(series: Series[], unit: string): string | undefined {
  const ranged = series.filter((s) => s.range && (s.range.low !== undefined || s.range.high !== undefined));
  if (ranged.length === 0) return undefined;
  const named = (s: Series) => (series.length > 1 ? `${s.label.toLowerCase()} ` : '');
  const sources = new Set(ranged.map((s) => s.range!.source));
  if (sources.size === 1) return `${ranged.map((s) => `${named(s)}${rangeText(s.range!, unit)}`).join(', ')} (${[...sources][0]})`;
  return ranged.map((s) => `${named(s)}${rangeText(s.range!, unit)} (${s.range!.source})`).join(', ');
}

/** `#rrggbb` at `alpha`. */
function tint(hex: string, alpha: number): string {
  const n = Number.parseInt(hex.slice(1), 16);
  return `rgba(${(n >> 16) & 255},${(n >> 8) & 255},${n & 255},${alpha})`;
}

function rangeText(r: Range, unit: string): string {
  if (r.low !== undefined && r.high !== undefined) return `${r.low}–${r.high} ${unit}`;
  if (r.low !== undefined) return `≥ ${r.low} ${unit}`;
  return `≤ ${r.high} ${unit}`;
}
