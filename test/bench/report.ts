/** Plain-text tables for the benchmark's report. */
import type { PhaseResult } from './http-load';
import type { StepCost } from './inprocess';
import type { ProfileSummary } from './profile';

export interface Comparison {
  name: string;
  server: PhaseResult;
  raw: PhaseResult;
  /** Most CPU (µs, all processes of the phase) a server request may cost (issue 9). */
  targetMicros: number;
  /**
   * The same requests answered with nothing of a FHIR server in the way (floor-server.ts: node:http and the
   * request's own statement), where the bench measures one: the least the request can cost over HTTP here.
   */
  floor?: PhaseResult;
}

export function table(rows: string[][], rightAligned: (col: number) => boolean): string {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  return rows
    .map((r) =>
      r
        .map((cell, c) => (rightAligned(c) ? cell.padStart(widths[c]) : cell.padEnd(widths[c])))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

export const num = (n: number, digits = 0): string =>
  Number.isFinite(n) ? n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }) : '-';

/** CPU-seconds per request of everything the phase ran: the server (if any), PostgreSQL and the load generator. */
export function cpuPerRequest(p: PhaseResult): number {
  return p.requests ? (p.cpu.server + p.cpu.postgres + p.cpu.loadGenerator) / p.requests : NaN;
}

const verdict = (micros: number, target: number): string => (micros <= target ? 'PASS' : 'BELOW');

export function formatResults(cs: Comparison[]): string {
  const rows = [
    [
      '',
      'server req/s',
      'p50 ms',
      'p99 ms',
      'non-2xx',
      'raw req/s',
      'p50 ms',
      'p99 ms',
      'req/s server/raw',
      'CPU µs/req',
      'raw µs',
      'floor µs',
      'target',
      '',
    ],
  ];
  for (const c of cs) {
    const micros = cpuPerRequest(c.server) * 1e6;
    rows.push([
      c.name,
      num(c.server.perSecond),
      num(c.server.p50, 1),
      num(c.server.p99, 1),
      `${c.server.non2xx + c.server.errors}`,
      num(c.raw.perSecond),
      num(c.raw.p50, 1),
      num(c.raw.p99, 1),
      `${num((100 * c.server.perSecond) / c.raw.perSecond, 1)} %`,
      num(micros),
      num(cpuPerRequest(c.raw) * 1e6),
      c.floor ? num(cpuPerRequest(c.floor) * 1e6) : '-',
      `≤ ${num(c.targetMicros)}`,
      verdict(micros, c.targetMicros),
    ]);
  }
  const notes: string[] = [];
  for (const c of cs) {
    if (c.server.non2xx || c.server.errors) {
      notes.push(
        `  ${c.name}: ${c.server.non2xx} non-2xx, ${c.server.errors} connection errors; status codes ${JSON.stringify(c.server.statusCodes)} — the figures above are not valid`,
      );
    }
    if (c.raw.errors) notes.push(`  ${c.raw.name}: ${c.raw.errors} errors ${Object.keys(c.raw.statusCodes).join('; ')}`);
    if (c.floor && (c.floor.non2xx || c.floor.errors))
      notes.push(`  ${c.floor.name}: ${c.floor.non2xx} non-2xx, ${c.floor.errors} connection errors — its figure is not valid`);
  }
  return table(rows, (col) => col > 0 && col < 13) + (notes.length ? `\n${notes.join('\n')}` : '');
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/**
 * The figures the targets are stated in, over every round of the run: CPU per server request (all processes of the
 * phase) in each round, its median and the median of each part, beside the raw baseline's and the ratio of the two.
 */
export function formatMedians(rounds: Comparison[][]): string {
  const rows = [
    [
      'median of rounds',
      'CPU µs/req each round',
      'median',
      'node',
      'postgres',
      'loadgen',
      'raw µs',
      'raw/server',
      'req/s server/raw',
      'floor µs',
      'target',
      '',
    ],
  ];
  for (const [k, first] of rounds[0].entries()) {
    const cs = rounds.map((r) => r[k]);
    const per = (f: (p: PhaseResult) => number): number => median(cs.map((c) => (f(c.server) * 1e6) / c.server.requests));
    const all = cs.map((c) => cpuPerRequest(c.server) * 1e6);
    const raw = median(cs.map((c) => cpuPerRequest(c.raw) * 1e6));
    const m = median(all);
    const floors = cs.flatMap((c) => (c.floor ? [cpuPerRequest(c.floor) * 1e6] : []));
    rows.push([
      first.name,
      all.map((x) => num(x)).join(', '),
      num(m),
      num(per((p) => p.cpu.server)),
      num(per((p) => p.cpu.postgres)),
      num(per((p) => p.cpu.loadGenerator)),
      num(raw),
      `${num((100 * raw) / m, 1)} %`,
      `${num(median(cs.map((c) => (100 * c.server.perSecond) / c.raw.perSecond)), 1)} %`,
      floors.length ? num(median(floors)) : '-',
      `≤ ${num(first.targetMicros)}`,
      verdict(m, first.targetMicros),
    ]);
  }
  return table(rows, (col) => col > 1 && col < 11);
}

/**
 * Where a target stands against its floor (Comparison.floor): the floor's own split, and how much of the
 * request's cost is above it. A target below its floor cannot be met by any server on this machine.
 */
export function formatFloors(rounds: Comparison[][]): string {
  const lines: string[] = [];
  for (const [k, first] of rounds[0].entries()) {
    const cs = rounds.map((r) => r[k]).filter((c) => c.floor);
    if (!cs.length) continue;
    const per = (p: PhaseResult, f: (p: PhaseResult) => number): number => (f(p) * 1e6) / p.requests;
    const floor = median(cs.map((c) => cpuPerRequest(c.floor!) * 1e6));
    const server = median(cs.map((c) => cpuPerRequest(c.server) * 1e6));
    const part = (f: (p: PhaseResult) => number): string =>
      `${num(median(cs.map((c) => per(c.server, f))))} vs ${num(median(cs.map((c) => per(c.floor!, f))))}`;
    lines.push(
      `${first.name}: floor ${num(floor)} µs (${cs.map((c) => num(cpuPerRequest(c.floor!) * 1e6)).join(', ')}); the server ${num(server)} µs = ` +
        `${num(server / floor, 2)}× the floor (node ${part((p) => p.cpu.server)}, postgres ${part((p) => p.cpu.postgres)}, ` +
        `load generator ${part((p) => p.cpu.loadGenerator)}); target ≤ ${num(first.targetMicros)} µs = ${num(first.targetMicros / floor, 2)}× the floor` +
        (first.targetMicros < floor ? ' — below the floor: no server on this machine can meet it' : ''),
    );
  }
  return lines.join('\n');
}

export function formatCpu(phases: PhaseResult[]): string {
  const rows = [
    [
      'CPU in the measured window',
      'node server',
      'postgres',
      'load generator',
      'other',
      'machine busy',
      'µs/req node',
      'µs/req pg',
      'µs/req loadgen',
      'µs/req all',
    ],
  ];
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
    "  cores busy = CPU-seconds per second of wall time. node server = cluster primary + workers; postgres = the benchmark's\n" +
    '  PostgreSQL cluster (postmaster and all its children); load generator = this process (autocannon, or the raw\n' +
    "  baseline's pg clients); other = the rest of the machine (other people's work on a shared machine)."
  );
}

/**
 * The same comparison by CPU cost instead of throughput: on a machine that only this benchmark uses, both sides
 * end up CPU-bound, and the throughput ratio tends to the inverse ratio of their CPU cost per request. Less
 * sensitive than req/s to other load on the machine (though contention inflates CPU cost too), so the targets
 * are stated in it.
 */
export function formatCpuRatios(cs: Comparison[]): string {
  return cs
    .map((c) => {
      const server = cpuPerRequest(c.server);
      const raw = cpuPerRequest(c.raw);
      return `  ${c.name}: ${num(server * 1e6)} µs of CPU per server request (target ≤ ${num(c.targetMicros)} µs: ${verdict(server * 1e6, c.targetMicros)}) vs ${num(raw * 1e6)} µs per raw statement → raw/server ${num((100 * raw) / server, 1)} %`;
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

/** One round's pair of phases: the same requests with a bearer token and the audit log on, and with AROGYA_AUTH=off. */
export interface AuthComparison {
  name: string;
  on: PhaseResult;
  off: PhaseResult;
}

/** Issue 11's target: with a token and audit, CPU per request within 15 % of AROGYA_AUTH=off. */
export const AUTH_OVERHEAD_TARGET = 1.15;

export function formatAuth(cs: AuthComparison[]): string {
  const rows = [['', 'token+audit req/s', 'µs/req', 'p50 ms', 'non-2xx', 'auth off req/s', 'µs/req', 'p50 ms', 'CPU on/off', 'req/s on/off', '']];
  for (const c of cs) {
    const on = cpuPerRequest(c.on);
    const off = cpuPerRequest(c.off);
    rows.push([
      c.name,
      num(c.on.perSecond),
      num(on * 1e6),
      num(c.on.p50, 1),
      `${c.on.non2xx + c.on.errors}`,
      num(c.off.perSecond),
      num(off * 1e6),
      num(c.off.p50, 1),
      num(on / off, 3),
      num(c.on.perSecond / c.off.perSecond, 3),
      on / off <= AUTH_OVERHEAD_TARGET ? 'PASS' : 'ABOVE 1.15',
    ]);
  }
  return table(rows, (col) => col > 0 && col < 10);
}

export function formatAuthMedians(rounds: AuthComparison[][]): string {
  const rows = [['median of rounds', 'CPU on/off each round', 'median', 'token+audit µs', 'off µs', 'req/s on/off', 'target', '']];
  for (const [k, first] of rounds[0].entries()) {
    const cs = rounds.map((r) => r[k]);
    const ratios = cs.map((c) => cpuPerRequest(c.on) / cpuPerRequest(c.off));
    const m = median(ratios);
    rows.push([
      first.name,
      ratios.map((x) => num(x, 3)).join(', '),
      num(m, 3),
      num(median(cs.map((c) => cpuPerRequest(c.on) * 1e6))),
      num(median(cs.map((c) => cpuPerRequest(c.off) * 1e6))),
      num(median(cs.map((c) => c.on.perSecond / c.off.perSecond)), 3),
      `≤ ${num(AUTH_OVERHEAD_TARGET, 2)}`,
      m <= AUTH_OVERHEAD_TARGET ? 'PASS' : 'ABOVE',
    ]);
  }
  return table(rows, (col) => col > 1 && col < 7);
}
