/** Plain-text tables for the benchmark's report. */
import type { PhaseResult } from './http-load';
import type { StepCost } from './inprocess';
import type { ProfileSummary } from './profile';

export interface Comparison {
  name: string;
  server: PhaseResult;
  raw: PhaseResult;
  /** % of raw */
  target: number;
}

function table(rows: string[][], rightAligned: (col: number) => boolean): string {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  return rows
    .map((r) => r.map((cell, c) => (rightAligned(c) ? cell.padStart(widths[c]) : cell.padEnd(widths[c]))).join('  ').trimEnd())
    .join('\n');
}

const num = (n: number, digits = 0): string => (Number.isFinite(n) ? n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }) : '-');

export function formatResults(cs: Comparison[]): string {
  const rows = [['', 'server req/s', 'p50 ms', 'p99 ms', 'non-2xx', 'raw req/s', 'p50 ms', 'p99 ms', 'server/raw', 'target', '']];
  for (const c of cs) {
    const ratio = (100 * c.server.perSecond) / c.raw.perSecond;
    rows.push([
      c.name,
      num(c.server.perSecond),
      num(c.server.p50, 1),
      num(c.server.p99, 1),
      `${c.server.non2xx + c.server.errors}`,
      num(c.raw.perSecond),
      num(c.raw.p50, 1),
      num(c.raw.p99, 1),
      `${num(ratio, 1)} %`,
      `≥ ${c.target} %`,
      ratio >= c.target ? 'PASS' : 'BELOW',
    ]);
  }
  const notes: string[] = [];
  for (const c of cs) {
    if (c.server.non2xx || c.server.errors) {
      notes.push(`  ${c.name}: ${c.server.non2xx} non-2xx, ${c.server.errors} connection errors; status codes ${JSON.stringify(c.server.statusCodes)} — the figures above are not valid`);
    }
    if (c.raw.errors) notes.push(`  ${c.raw.name}: ${c.raw.errors} errors ${Object.keys(c.raw.statusCodes).join('; ')}`);
  }
  return table(rows, (col) => col > 0 && col < 10) + (notes.length ? `\n${notes.join('\n')}` : '');
}

/** CPU-seconds per request of everything the phase ran: the server (if any), PostgreSQL and the load generator. */
function cpuPerRequest(p: PhaseResult): number {
  return p.requests ? (p.cpu.server + p.cpu.postgres + p.cpu.loadGenerator) / p.requests : NaN;
}

export function formatCpu(phases: PhaseResult[]): string {
  const rows = [['CPU in the measured window', 'node server', 'postgres', 'load generator', 'other', 'machine busy', 'µs/req node', 'µs/req pg', 'µs/req loadgen', 'µs/req all']];
  for (const p of phases) {
    const c = p.cpu;
    const raw = p.name.startsWith('raw');
    const perSec = (v: number): string => `${num(v / c.seconds, 2)}`;
    const perReq = (v: number): string => (p.requests ? num((v * 1e6) / p.requests) : '-');
    rows.push([
      raw ? p.name : `server ${p.name}`,
      raw ? '-' : perSec(c.server),
      perSec(c.postgres),
      perSec(c.loadGenerator),
      c.other !== undefined ? perSec(c.other) : '-',
      c.machineBusy !== undefined ? `${perSec(c.machineBusy)} of ${num(c.cores ?? 0, 0)}` : '-',
      raw ? '-' : perReq(c.server),
      perReq(c.postgres),
      perReq(c.loadGenerator),
      num(cpuPerRequest(p) * 1e6),
    ]);
  }
  return (
    `${table(rows, (col) => col > 0)}\n` +
    '  cores busy = CPU-seconds per second of wall time. node server = cluster primary + workers; postgres = the benchmark\'s\n' +
    '  PostgreSQL cluster (postmaster and all its children); load generator = this process (autocannon, or the raw\n' +
    '  baseline\'s pg clients); other = the rest of the machine (other people\'s work on a shared machine).'
  );
}

/**
 * The same comparison by CPU cost instead of throughput: on a machine that only this benchmark uses, both sides
 * end up CPU-bound, and the throughput ratio tends to the inverse ratio of their CPU cost per request. Less
 * sensitive than req/s to other load on the machine (though contention inflates CPU cost too).
 */
export function formatCpuRatios(cs: Comparison[]): string {
  return cs
    .map((c) => {
      const server = cpuPerRequest(c.server);
      const raw = cpuPerRequest(c.raw);
      return `  ${c.name}: ${num(server * 1e6)} µs of CPU per server request vs ${num(raw * 1e6)} µs per raw statement → ${num((100 * raw) / server, 1)} % (target ≥ ${c.target} %)`;
    })
    .join('\n');
}

/** A warning when other processes took a noticeable share of the machine during a phase. */
export function loadWarning(phases: PhaseResult[], threshold = 0.15): string | undefined {
  const busy = phases.filter((p) => p.cpu.other !== undefined && p.cpu.other / p.cpu.seconds > threshold);
  if (!busy.length) return undefined;
  return (
    `WARNING: other processes used ${busy.map((p) => `${num(p.cpu.other! / p.cpu.seconds, 2)} cores during ${p.name}`).join(', ')}: ` +
    'those phases had less than the whole machine, so their req/s and the ratios are unreliable. Re-run on a quiet machine.'
  );
}

export function formatSteps(steps: StepCost[]): string {
  const rows = [['in-process, per resource (no HTTP, no database)', 'µs']];
  for (const s of steps) rows.push([s.name, s.micros !== undefined ? num(s.micros, 1) : `skipped: ${s.skipped}`]);
  return table(rows, (col) => col === 1);
}

export function formatProfile(title: string, s: ProfileSummary | undefined): string {
  if (!s || s.busyMicros === 0) return `${title}: no profile samples (were the profiles written?)`;
  const pct = (v: number): string => `${num((100 * v) / s.busyMicros, 1)} %`;
  const rows = [['self time by package / module', 'share']];
  for (const [k, v] of s.categories) rows.push([k, pct(v)]);
  const rows2 = [['inclusive time of server functions', 'share']];
  for (const [k, v] of s.serverFunctions) rows2.push([k, pct(v)]);
  return `${title}: ${num(s.busyMicros / 1e6, 2)} CPU-s busy in ${s.files} profiles\n${table(rows, (c) => c === 1)}\n\n${table(rows2, (c) => c === 1)}`;
}
