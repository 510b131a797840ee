/**
 * The raw PostgreSQL baseline: the same statements a minimal storage layer would need for the same work — one
 * single-row INSERT of the JSON text, one SELECT by primary key — from `connections` concurrent clients, with no
 * HTTP, no FHIR and no transaction around them. The client loops run in the main thread (threads = 0) or are
 * split over worker threads, so that the JavaScript client is not itself the bottleneck.
 */
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { cpuSnapshot, cpuSplit } from './cpu';
import type { PhaseResult } from './http-load';
import { MEASURE, STOP, WARMUP, prepareRawLoops, type RawLoopConfig, type RawLoopResult, type RawOp } from './raw-loops';

export interface RawOptions {
  name: string;
  url: string;
  op: RawOp;
  ids: string[];
  json: string;
  connections: number;
  /** 0: loops in this thread; n: split over n worker threads */
  threads: number;
  warmupSeconds: number;
  seconds: number;
  /** the benchmark's PostgreSQL cluster, for CPU accounting (cpu.ts) */
  postmasterPid?: number;
}

const active = new Set<Worker>();
let activePhase: Int32Array | undefined;

/** Stops a baseline in progress (on ctrl-c). */
export async function stopRaw(): Promise<void> {
  if (activePhase) Atomics.store(activePhase, 0, STOP);
  await Promise.all([...active].map((w) => w.terminate()));
}

const sleep = (s: number): Promise<void> => new Promise((r) => setTimeout(r, s * 1000));

function startWorker(cfg: RawLoopConfig, phase: SharedArrayBuffer): { ready: Promise<void>; go(): Promise<RawLoopResult> } {
  const worker = new Worker(path.join(__dirname, 'raw-worker.js'), { workerData: { cfg, phase } });
  active.add(worker);
  let onResult: (r: RawLoopResult) => void;
  let onError: (e: Error) => void;
  const result = new Promise<RawLoopResult>((resolve, reject) => {
    onResult = resolve;
    onError = reject;
  });
  const ready = new Promise<void>((resolve, reject) => {
    worker.on('message', (m: { ready?: true; result?: RawLoopResult; error?: string }) => {
      if (m.ready) resolve();
      else if (m.result) onResult(m.result);
      else {
        const e = new Error(`raw baseline worker: ${m.error}`);
        reject(e);
        onError(e);
      }
    });
    worker.on('error', (e) => {
      reject(e);
      onError(e);
    });
    worker.on('exit', () => {
      active.delete(worker);
      const e = new Error('raw baseline worker exited early');
      reject(e);
      onError(e);
    });
  });
  return {
    ready,
    go() {
      worker.postMessage('go');
      return result;
    },
  };
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

export async function measureRaw(o: RawOptions): Promise<PhaseResult> {
  const buffer = new SharedArrayBuffer(4);
  const phase = new Int32Array(buffer);
  activePhase = phase;
  Atomics.store(phase, 0, WARMUP);
  const shares =
    o.threads === 0
      ? [o.connections]
      : Array.from({ length: o.threads }, (_, k) => Math.floor(o.connections / o.threads) + (k < o.connections % o.threads ? 1 : 0));
  const configs: RawLoopConfig[] = shares.map((clients, k) => ({
    url: o.url,
    op: o.op,
    clients,
    ids: o.ids,
    offset: Math.floor((k * o.ids.length) / shares.length),
    json: o.json,
  }));
  let running: Promise<RawLoopResult[]>;
  if (o.threads === 0) {
    const loops = await prepareRawLoops(configs[0], phase);
    running = Promise.all([loops.run()]);
  } else {
    const workers = configs.map((c) => startWorker(c, buffer));
    await Promise.all(workers.map((w) => w.ready));
    running = Promise.all(workers.map((w) => w.go()));
  }
  running.catch(() => undefined); // awaited below; do not let a failure during the sleeps go unhandled
  await sleep(o.warmupSeconds);
  const before = cpuSnapshot(undefined, o.postmasterPid);
  Atomics.store(phase, 0, MEASURE);
  await sleep(o.seconds);
  Atomics.store(phase, 0, STOP);
  const after = cpuSnapshot(undefined, o.postmasterPid);
  const results = await running;
  activePhase = undefined;

  const cpu = cpuSplit(before, after);
  const count = results.reduce((n, r) => n + r.count, 0);
  const errors = results.reduce((n, r) => n + r.errors, 0);
  const firstError = results.find((r) => r.firstError)?.firstError;
  const latencies = Float64Array.from(results.flatMap((r) => r.latencies)).sort();
  return {
    name: o.name,
    requests: count,
    seconds: cpu.seconds,
    perSecond: count / cpu.seconds,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    non2xx: 0,
    errors,
    statusCodes: firstError ? { [`error: ${firstError}`]: errors } : {},
    cpu,
    window: [Number(before.at / 1000n), Number(after.at / 1000n)],
  };
}
