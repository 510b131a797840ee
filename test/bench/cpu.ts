/**
 * Where the CPU goes during a phase: user+system time from /proc/<pid>/stat (Linux) of the server's node
 * processes (the cluster primary and its workers), of the benchmark's PostgreSQL processes, of this benchmark
 * process (the load generator: autocannon or the raw clients), and of the whole machine (/proc/stat), sampled
 * before and after the phase. "Other" is the rest of the machine's busy time: on a shared machine, other people's
 * work, which slows the phase down and makes its figures unreliable. Elsewhere than Linux the figures are absent.
 */
import fs from 'node:fs';

/** USER_HZ: the unit of utime/stime in /proc/<pid>/stat (100 on every mainstream Linux). */
const TICKS_PER_SECOND = 100;

interface ProcStat {
  pid: number;
  comm: string;
  ppid: number;
  /** utime + stime, in ticks */
  ticks: number;
}

function readStat(pid: number): ProcStat | undefined {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined; // gone meanwhile
  }
  // "pid (comm) state ppid …": comm may hold spaces or parentheses, so split after the last ')'.
  const close = text.lastIndexOf(')');
  const comm = text.slice(text.indexOf('(') + 1, close);
  const f = text.slice(close + 2).split(' ');
  return { pid, comm, ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]) };
}

function allProcesses(): ProcStat[] {
  let entries: string[];
  try {
    entries = fs.readdirSync('/proc');
  } catch {
    return [];
  }
  const out: ProcStat[] = [];
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    const s = readStat(Number(e));
    if (s) out.push(s);
  }
  return out;
}

/** Machine-wide busy and total CPU time (all cores), in ticks. */
function machineTicks(): { busy: number; total: number } | undefined {
  try {
    const line = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0];
    const v = line.trim().split(/\s+/).slice(1).map(Number);
    const total = v.slice(0, 8).reduce((a, b) => a + b, 0); // user nice system idle iowait irq softirq steal
    return { busy: total - v[3] - v[4], total };
  } catch {
    return undefined;
  }
}

/**
 * CPU-seconds used by the PostgreSQL processes serving database `db` (backends and autovacuum workers, whose command
 * lines name it): on a cluster shared with other work, the part a benchmark's own load costs. A process's CPU is
 * only readable while it lives, so `sample()` is to be called often (`every`): a process that has exited keeps
 * what it had used at its last reading, instead of vanishing from the sum (which made a step's CPU negative when
 * the loader's connections or an autovacuum worker ended). A pid reused by a new process is told by its ticks
 * going down.
 */
export class DatabaseCpu {
  private readonly last = new Map<number, number>();
  private gone = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly db: string) {}

  /** Reads the database's processes now; returns its CPU-seconds since this tracker's first sample. */
  sample(): number {
    for (const p of allProcesses()) {
      if (p.comm !== 'postgres') continue;
      let cmd: string;
      try {
        cmd = fs.readFileSync(`/proc/${p.pid}/cmdline`, 'utf8');
      } catch {
        continue;
      }
      if (!cmd.split(' ').includes(this.db)) continue;
      const before = this.last.get(p.pid);
      if (before !== undefined && p.ticks < before) this.gone += before; // the pid is another process's now
      this.last.set(p.pid, p.ticks);
    }
    let ticks = this.gone;
    for (const t of this.last.values()) ticks += t;
    return ticks / TICKS_PER_SECOND;
  }

  /** Samples every `ms` until stop() (the process may exit meanwhile: the timer does not hold it). */
  every(ms: number): this {
    this.timer ??= setInterval(() => this.sample(), ms).unref();
    return this;
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}

export interface CpuSnapshot {
  at: bigint;
  /** per pid, for the server's processes and the postgres processes */
  server: Map<number, number>;
  postgres: Map<number, number>;
  /** this process, all threads, in µs */
  self: NodeJS.CpuUsage;
  machine?: { busy: number; total: number };
}

/**
 * The postmaster of a PostgreSQL cluster running on this machine, from the pid of one of its backends (the
 * backend's parent); undefined when the cluster is elsewhere.
 */
export function postmasterOf(backendPid: number): number | undefined {
  const backend = readStat(backendPid);
  if (backend?.comm !== 'postgres') return undefined;
  const postmaster = readStat(backend.ppid);
  return postmaster?.comm === 'postgres' ? postmaster.pid : undefined;
}

/**
 * Samples the CPU counters. `serverPid`: the server's primary process (its children are included).
 * `postmasterPid`: the benchmark's PostgreSQL cluster (the postmaster and all its children: backends, WAL
 * writer, checkpointer, autovacuum); without it, every process named `postgres` on the machine counts.
 */
export function cpuSnapshot(serverPid: number | undefined, postmasterPid?: number): CpuSnapshot {
  const procs = allProcesses();
  const server = new Map<number, number>();
  const postgres = new Map<number, number>();
  for (const p of procs) {
    if (serverPid !== undefined && (p.pid === serverPid || p.ppid === serverPid)) server.set(p.pid, p.ticks);
    else if (postmasterPid !== undefined ? p.pid === postmasterPid || p.ppid === postmasterPid : p.comm === 'postgres') postgres.set(p.pid, p.ticks);
  }
  return { at: process.hrtime.bigint(), server, postgres, self: process.cpuUsage(), machine: machineTicks() };
}

export interface CpuSplit {
  seconds: number;
  /** CPU-seconds used during the interval */
  server: number;
  serverProcesses: number;
  postgres: number;
  loadGenerator: number;
  /** machine-wide busy CPU-seconds, and the part not accounted for above (other processes, kernel work) */
  machineBusy?: number;
  other?: number;
  cores?: number;
}

function delta(before: Map<number, number>, after: Map<number, number>): number {
  let ticks = 0;
  for (const [pid, t] of after) ticks += t - (before.get(pid) ?? 0); // a process born meanwhile counts from 0
  return ticks / TICKS_PER_SECOND;
}

export function cpuSplit(before: CpuSnapshot, after: CpuSnapshot): CpuSplit {
  const seconds = Number(after.at - before.at) / 1e9;
  const server = delta(before.server, after.server);
  const postgres = delta(before.postgres, after.postgres);
  const loadGenerator = (after.self.user - before.self.user + after.self.system - before.self.system) / 1e6;
  const split: CpuSplit = { seconds, server, serverProcesses: after.server.size, postgres, loadGenerator };
  if (before.machine && after.machine) {
    const busyTicks = after.machine.busy - before.machine.busy;
    const totalTicks = after.machine.total - before.machine.total;
    split.machineBusy = busyTicks / TICKS_PER_SECOND;
    split.other = Math.max(0, split.machineBusy - server - postgres - loadGenerator);
    split.cores = totalTicks / TICKS_PER_SECOND / seconds;
  }
  return split;
}
