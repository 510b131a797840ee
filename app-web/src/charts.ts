/**
 * Charts of measurements over time (Chart.js, tree-shaken to what a line chart needs), each with its reference
 * range as a shaded band, a text summary for screen readers and the values as a table.
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
}
export interface Range {
  low?: number;
  high?: number;
  source: string;
}

// colour-blind-safe, ≥ 3:1 against white (WCAG 1.4.11 non-text contrast)
const COLOURS = ['#0b5cad', '#b3261e', '#1e7b34', '#7a4b00'];

const dayFmt = new Intl.DateTimeFormat('en-IN', { month: 'short', year: 'numeric' });

export function chartFigure(opts: { id: string; title: string; unit: string; series: Series[]; range?: Range }): {
  el: HTMLElement;
  destroy(): void;
} {
  const { id, title, unit, series, range } = opts;
  const all = series.flatMap((s) => s.points);
  const canvas = h('canvas', {
    id: `${id}-canvas`,
    role: 'img',
    'aria-label': `${title}: ${all.length} values${range ? `, reference range ${rangeText(range, unit)}` : ''}. The values are listed in the table below the chart.`,
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
      range ? h('span', { class: 'range' }, ` · reference ${rangeText(range, unit)} (${range.source})`) : null,
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
  if (range && (range.low !== undefined || range.high !== undefined)) {
    const ys = all.map((p) => p.v);
    const low = range.low ?? Math.min(0, ...ys);
    const high = range.high ?? Math.max(...ys) * 1.1;
    datasets.push(
      {
        label: 'Reference low',
        data: [
          { x: t0, y: low },
          { x: t1, y: low },
        ],
        borderColor: 'rgba(30,123,52,0.6)',
        borderDash: [4, 4],
        borderWidth: 1,
        pointRadius: 0,
        fill: false,
      },
      {
        label: 'Reference range',
        data: [
          { x: t0, y: high },
          { x: t1, y: high },
        ],
        borderColor: 'rgba(30,123,52,0.6)',
        borderDash: [4, 4],
        borderWidth: 1,
        pointRadius: 0,
        backgroundColor: 'rgba(30,123,52,0.12)',
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
        legend: { labels: { filter: (item) => item.text !== 'Reference low' } },
        tooltip: { callbacks: { title: (items) => dateText(new Date(Number(items[0]?.parsed.x)).toISOString()) } },
      },
    },
  });
  return { el, destroy: () => chart.destroy() };
}

function rangeText(r: Range, unit: string): string {
  if (r.low !== undefined && r.high !== undefined) return `${r.low}–${r.high} ${unit}`;
  if (r.low !== undefined) return `≥ ${r.low} ${unit}`;
  return `≤ ${r.high} ${unit}`;
}
