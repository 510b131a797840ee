/**
 * rest-hook notification latency (issue 12): with 1,000 active Subscriptions on one resource type, the time from
 * sending a matching write (an Observation create over HTTP, SMART on) to the moment a receiver on loopback has the
 * notification, p50 and p99 over BENCH_SUB_SAMPLES writes sent one at a time (a latency, not a throughput figure).
 * Each subscription has its own criteria (`Observation?code=http://loinc.org|bench-{i}`), so every write matches
 * exactly one of them, and the matching statement carries all 1,000 candidates (the worst case: all on one type).
 *
 * Run on its own (`node dist/test/bench/subscriptions.js`, after `npm run build`) or as the last phase of
 * `npm run bench` (run.ts). Env: DATABASE_URL (else embedded), BENCH_SUB_COUNT (1000), BENCH_SUB_SAMPLES (200),
 * BENCH_WORKERS (server workers, default one per core).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { openBenchDatabase } from './database';
import { adminEnv, adminToken, benchAdmin, startServer, type BenchAdmin } from './server';

export interface SubscriptionLatency {
  subscriptions: number;
  samples: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  setupSeconds: number;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/** Runs the phase against a fresh server process on `databaseUrl`; `env` is the server's (SMART admin client). */
export async function measureSubscriptionLatency(opts: {
  databaseUrl: string;
  workers: number;
  logFile: string;
  admin: BenchAdmin;
  count?: number;
  samples?: number;
}): Promise<SubscriptionLatency> {
  const count = opts.count ?? 1000;
  const samples = opts.samples ?? 200;
  const arrived = new Map<string, (t: number) => void>();
  const early = new Map<string, number>();
  const receiver = http.createServer((req, res) => {
    const t = performance.now();
    req.resume();
    req.on('end', () => {
      res.writeHead(204).end();
      const key = String(req.headers['x-arogya-resource']);
      const waiter = arrived.get(key);
      if (waiter) {
        arrived.delete(key);
        waiter(t);
      } else early.set(key, t); // before the write's response was read
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  const hook = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
  const server = await startServer({
    databaseUrl: opts.databaseUrl,
    workers: opts.workers,
    logFile: opts.logFile,
    env: { ...adminEnv(opts.admin), AROGYA_SUBSCRIPTION_ALLOW: '127.0.0.1' },
  });
  try {
    const token = await adminToken(server.base, opts.admin);
    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/fhir+json' };
    const run = crypto.randomBytes(4).toString('hex');
    const code = (i: number) => `bench-${run}-${i}`;

    const setupStart = performance.now();
    let next = 0;
    const create = async (): Promise<void> => {
      for (let i = next++; i < count; i = next++) {
        const res = await fetch(`${server.base}/Subscription`, {
          method: 'POST',
          headers,
          body: JSON.stringify({
            resourceType: 'Subscription',
            status: 'requested',
            reason: 'bench',
            criteria: `Observation?code=http://loinc.org|${code(i)}`,
            channel: { type: 'rest-hook', endpoint: `${hook}/${i}` },
          }),
        });
        if (res.status !== 201) throw new Error(`Subscription create answered ${res.status}: ${await res.text()}`);
        await res.arrayBuffer();
      }
    };
    await Promise.all(Array.from({ length: 8 }, create));
    const setupSeconds = (performance.now() - setupStart) / 1000;

    const observe = async (i: number): Promise<number> => {
      const t0 = performance.now();
      const res = await fetch(`${server.base}/Observation`, {
        method: 'POST',
        headers: { ...headers, prefer: 'return=minimal' },
        body: JSON.stringify({
          resourceType: 'Observation',
          status: 'final',
          code: { coding: [{ system: 'http://loinc.org', code: code(i) }] },
          valueQuantity: { value: 72, unit: '/min', system: 'http://unitsofmeasure.org', code: '/min' },
        }),
      });
      if (res.status !== 201) throw new Error(`Observation create answered ${res.status}`);
      await res.arrayBuffer();
      const id = (res.headers.get('location') ?? '').split('/Observation/')[1]?.split('/')[0];
      const key = `Observation/${id}/_history/1`;
      const t1 =
        early.get(key) ??
        (await new Promise<number>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`no notification for ${key} within 30 s`)), 30_000);
          arrived.set(key, (t) => {
            clearTimeout(timer);
            resolve(t);
          });
        }));
      return t1 - t0;
    };
    // warm-up: the first writes load each worker's index and open the receiver's connections
    for (let i = 0; i < 10; i++) await observe(i % count);
    const latencies: number[] = [];
    for (let s = 0; s < samples; s++) latencies.push(await observe(Math.floor(Math.random() * count)));
    latencies.sort((a, b) => a - b);
    return {
      subscriptions: count,
      samples,
      p50: percentile(latencies, 50),
      p90: percentile(latencies, 90),
      p99: percentile(latencies, 99),
      max: latencies[latencies.length - 1],
      setupSeconds,
    };
  } finally {
    await server.stop();
    await new Promise((r) => receiver.close(r));
  }
}

export function formatSubscriptionLatency(r: SubscriptionLatency): string {
  const ms = (v: number) => `${v.toFixed(1)} ms`;
  return [
    `rest-hook notification latency, ${r.subscriptions} active Subscriptions (one type, each its own criteria), ${r.samples} writes one at a time, loopback receiver:`,
    `  write sent → receiver has it: p50 ${ms(r.p50)}, p90 ${ms(r.p90)}, p99 ${ms(r.p99)}, max ${ms(r.max)}`,
    `  (${r.subscriptions} subscriptions created in ${r.setupSeconds.toFixed(1)} s)`,
  ].join('\n');
}

async function main(): Promise<void> {
  const db = await openBenchDatabase((m) => console.error(m));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'arogya-bench-subs-'));
  try {
    const r = await measureSubscriptionLatency({
      databaseUrl: db.url,
      workers: Number(process.env.BENCH_WORKERS ?? os.availableParallelism()),
      logFile: path.join(dir, 'server.log'),
      admin: benchAdmin(),
      count: Number(process.env.BENCH_SUB_COUNT ?? 1000),
      samples: Number(process.env.BENCH_SUB_SAMPLES ?? 200),
    });
    console.log(formatSubscriptionLatency(r));
  } finally {
    await db.close();
  }
}

if (require.main === module) {
  main().catch((e) => {
    console.error(e);
    process.exitCode = 1;
  });
}
