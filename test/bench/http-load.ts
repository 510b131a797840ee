/**
 * HTTP load against the server with autocannon: a warm-up run (discarded), then the measured run, with the CPU
 * counters sampled around the measured run only.
 */
import autocannon from 'autocannon';
import { cpuSnapshot, cpuSplit, type CpuSplit } from './cpu';

export interface PhaseResult {
  name: string;
  requests: number;
  seconds: number;
  perSecond: number;
  /** ms */
  p50: number;
  p99: number;
  non2xx: number;
  errors: number;
  statusCodes: Record<string, number>;
  cpu: CpuSplit;
  /** monotonic clock (µs) of the measured window, to cut CPU profiles */
  window: [number, number];
  /** a phase measured in slices (mergePhases): each slice's window */
  windows?: [number, number][];
}

/**
 * One phase measured in several slices (the same load on the same server, at different times) as if measured at
 * once: requests, seconds and CPU add up; latencies are the slices' request-weighted means.
 */
export function mergePhases(name: string, parts: PhaseResult[]): PhaseResult {
  const sum = (f: (p: PhaseResult) => number): number => parts.reduce((a, p) => a + f(p), 0);
  const requests = sum((p) => p.requests);
  const weighted = (f: (p: PhaseResult) => number): number => (requests ? sum((p) => f(p) * p.requests) / requests : 0);
  const statusCodes: Record<string, number> = {};
  for (const p of parts) for (const [code, n] of Object.entries(p.statusCodes)) statusCodes[code] = (statusCodes[code] ?? 0) + n;
  const opt = (f: (c: CpuSplit) => number | undefined): number | undefined =>
    parts.every((p) => f(p.cpu) !== undefined) ? parts.reduce((a, p) => a + f(p.cpu)!, 0) : undefined;
  const seconds = sum((p) => p.cpu.seconds);
  const cpu: CpuSplit = {
    seconds,
    server: sum((p) => p.cpu.server),
    serverProcesses: Math.max(...parts.map((p) => p.cpu.serverProcesses)),
    postgres: sum((p) => p.cpu.postgres),
    loadGenerator: sum((p) => p.cpu.loadGenerator),
    machineBusy: opt((c) => c.machineBusy),
    other: opt((c) => c.other),
  };
  const coreSeconds = opt((c) => (c.cores === undefined ? undefined : c.cores * c.seconds));
  if (coreSeconds !== undefined) cpu.cores = coreSeconds / seconds;
  return {
    name,
    requests,
    seconds: sum((p) => p.seconds),
    // each slice's time under load is requests / rate
    perSecond: requests / sum((p) => (p.perSecond ? p.requests / p.perSecond : 0)),
    p50: weighted((p) => p.p50),
    p99: weighted((p) => p.p99),
    non2xx: sum((p) => p.non2xx),
    errors: sum((p) => p.errors),
    statusCodes,
    cpu,
    window: parts[0].window,
    windows: parts.flatMap((p) => p.windows ?? [p.window]),
  };
}

let running: autocannon.Instance | undefined;

/** Stops a run in progress (on ctrl-c). */
export function stopLoad(): void {
  running?.stop();
}

function run(opts: autocannon.Options): Promise<autocannon.Result> {
  return new Promise((resolve, reject) => {
    running = autocannon(opts, (err, result) => {
      running = undefined;
      if (err) reject(err);
      else resolve(result);
    });
  });
}

export interface LoadOptions {
  name: string;
  url: string;
  connections: number;
  warmupSeconds: number;
  seconds: number;
  requests: autocannon.Request[];
  serverPid: number;
  /** the benchmark's PostgreSQL cluster, for CPU accounting (cpu.ts) */
  postmasterPid?: number;
  /**
   * Idle time after the warm-up and after the measured run before the CPU counters are read, so that work the
   * server does after answering (the audit log's batched INSERT, every AROGYA_AUDIT_FLUSH_MS) is counted in the
   * phase whose requests caused it — not the warm-up's in the measured window, nor the measured run's left out.
   */
  settleMs?: number;
}

const settle = (ms: number | undefined): Promise<void> => new Promise((r) => setTimeout(r, ms ?? 0));

export async function measureHttp(o: LoadOptions): Promise<PhaseResult> {
  const base = { url: o.url, connections: o.connections, requests: o.requests, timeout: 30 };
  if (o.warmupSeconds > 0) {
    await run({ ...base, duration: o.warmupSeconds });
    await settle(o.settleMs);
  }
  const before = cpuSnapshot(o.serverPid, o.postmasterPid);
  const result = await run({ ...base, duration: o.seconds });
  await settle(o.settleMs);
  const after = cpuSnapshot(o.serverPid, o.postmasterPid);
  const cpu = cpuSplit(before, after);
  const statusCodes: Record<string, number> = {};
  for (const [code, s] of Object.entries(result.statusCodeStats ?? {})) statusCodes[code] = Number(s.count);
  const ok = result['2xx'];
  return {
    name: o.name,
    requests: ok,
    seconds: cpu.seconds,
    perSecond: ok / (cpu.seconds - (o.settleMs ?? 0) / 1000), // the load ran for the window less the settling
    p50: result.latency.p50,
    p99: result.latency.p99,
    non2xx: result.non2xx,
    errors: result.errors,
    statusCodes,
    cpu,
    window: [Number(before.at / 1000n), Number(after.at / 1000n)],
  };
}
