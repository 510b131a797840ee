/**
 * Loads (once) and keeps the search benchmark's population in its own database, `arogya_bench_search` on the
 * PostgreSQL of DATABASE_URL (else postgres://postgres@127.0.0.1:5432): every resource goes through the server's
 * own write path — Repository.planVersion() (serialisation, search-value extraction, references) and
 * executeWrites() (the set-based statement that writes the current version and every index row) — in
 * batches of CHUNK_GROUPS patient groups (~1,000 resources), from two worker threads. Each batch commits with a
 * row in bench_population_chunk, so an interrupted load resumes where it stopped; a finished load is recorded in
 * bench_population (the marker) and reused by later runs.
 */
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import pg from 'pg';
import { migrateLatest } from '../../server/database/migrate';
import { DatabaseCpu } from './cpu';
import { createPool } from '../../server/database/pool';
import { Repository } from '../../server/repository/repository';
import { GROUP_SIZE, ORGANIZATIONS, POPULATION_VERSION, PRACTITIONERS, patientGroup, sharedResources } from './search-population';

export const CHUNK_GROUPS = 100;
const DEFAULT_ADMIN_URL = 'postgres://postgres@127.0.0.1:5432/postgres';

export interface Population {
  url: string;
  patients: number;
  resources: number;
  loadedAt: string;
  /** seconds the load took when it happened */
  loadSeconds: number;
}

export function benchDatabaseUrl(): { adminUrl: string; url: string; name: string } {
  const adminUrl = process.env.DATABASE_URL || DEFAULT_ADMIN_URL;
  const name = process.env.BENCH_SEARCH_DB || 'arogya_bench_search';
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`BENCH_SEARCH_DB must be a plain lower-case identifier, got '${name}'`);
  const u = new URL(adminUrl);
  u.pathname = `/${name}`;
  return { adminUrl, url: u.toString(), name };
}

async function ensureDatabase(adminUrl: string, name: string): Promise<void> {
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    const { rowCount } = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (!rowCount) await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
}

/** Validates one group and the shared resources with the server's validator (the loader itself skips validation). */
function validateSample(repo: Repository): void {
  const sample = [...patientGroup(0), ...patientGroup(99_999), ...sharedResources().slice(0, 3), sharedResources()[ORGANIZATIONS]];
  for (const r of sample) repo.prepare(r, r.resourceType as string, r.id as string);
}

export async function ensurePopulation(patients: number, log: (m: string) => void): Promise<Population> {
  const { adminUrl, url, name } = benchDatabaseUrl();
  await ensureDatabase(adminUrl, name);
  const applied = await migrateLatest(url);
  if (applied.length) log(`database ${name}: migrations applied: ${applied.join(', ')}`);
  const db = new pg.Client({ connectionString: url });
  await db.connect();
  try {
    await db.query(`CREATE TABLE IF NOT EXISTS bench_population (
      name text PRIMARY KEY, version text NOT NULL, patients integer NOT NULL, resources integer NOT NULL,
      loaded_at timestamptz NOT NULL DEFAULT now(), load_seconds numeric NOT NULL)`);
    await db.query('CREATE TABLE IF NOT EXISTS bench_population_chunk (chunk integer PRIMARY KEY)');
    // seconds spent loading, per run (an interrupted load resumes: the marker records the sum)
    await db.query('CREATE TABLE IF NOT EXISTS bench_population_time (run_at timestamptz NOT NULL DEFAULT now(), seconds numeric NOT NULL)');
    const marker = await db.query<{ version: string; patients: number; resources: number; loaded_at: Date; load_seconds: string }>(
      `SELECT version, patients, resources, loaded_at, load_seconds FROM bench_population WHERE name = 'search'`,
    );
    const m = marker.rows[0];
    if (m && m.version === POPULATION_VERSION && m.patients === patients) {
      return { url, patients, resources: m.resources, loadedAt: m.loaded_at.toISOString(), loadSeconds: Number(m.load_seconds) };
    }
    if (m) throw new Error(`database ${name} holds a different population (${m.version}, ${m.patients} patients): drop it or set BENCH_SEARCH_DB`);

    const pool = createPool(url, 1);
    validateSample(new Repository(pool, { referentialIntegrity: false, baseUrl: 'http://localhost/fhir', timeZone: 'UTC' }));
    await pool.end();
    log('population sample validates as R4');

    const chunks = Math.ceil(patients / CHUNK_GROUPS);
    const { rows } = await db.query<{ chunk: number }>('SELECT chunk FROM bench_population_chunk');
    const done = new Set(rows.map((r) => r.chunk));
    const todo = [-1, ...Array.from({ length: chunks }, (_, i) => i)].filter((c) => !done.has(c));
    const total = patients * GROUP_SIZE + ORGANIZATIONS + PRACTITIONERS;
    const already = [...done].filter((c) => c >= 0).length * CHUNK_GROUPS * GROUP_SIZE;
    log(
      `loading ${total.toLocaleString('en')} resources (${patients.toLocaleString('en')} patient groups of ${GROUP_SIZE}) into ${name}` +
        (done.size ? `, resuming: ${done.size} of ${chunks + 1} chunks already written` : ''),
    );
    const t0 = Date.now();
    const rates = new LoadRates(name);
    let loaded: number;
    try {
      loaded = await runLoaders(
        url,
        todo,
        patients,
        2,
        (n) => {
          const s = (Date.now() - t0) / 1000;
          const rate = n / s;
          const left = total - already - n;
          log(
            `  ${(already + n).toLocaleString('en')} / ${total.toLocaleString('en')} resources, ${Math.round(rate)}/s, ~${Math.round(left / rate / 60)} min left`,
          );
        },
        (n) => rates.record(n, log),
      );
      log(rates.summary());
    } finally {
      rates.stop();
      await db.query('INSERT INTO bench_population_time (seconds) VALUES ($1)', [(Date.now() - t0) / 1000]).catch(() => undefined);
    }
    const { rows: spent } = await db.query<{ s: string }>('SELECT coalesce(sum(seconds), 0) AS s FROM bench_population_time');
    const seconds = Number(spent[0].s);
    log(
      `loaded ${loaded.toLocaleString('en')} resources in ${Math.round((Date.now() - t0) / 1000)} s (${Math.round(seconds)} s over all runs of this load); VACUUM ANALYZE…`,
    );
    await db.query('VACUUM ANALYZE');
    await db.query(`INSERT INTO bench_population (name, version, patients, resources, load_seconds) VALUES ('search', $1, $2, $3, $4)`, [
      POPULATION_VERSION,
      patients,
      total,
      seconds,
    ]);
    return { url, patients, resources: total, loadedAt: new Date().toISOString(), loadSeconds: seconds };
  } finally {
    await db.end();
  }
}

const RATE_STEP = 100_000;

/**
 * The load rate per 100,000 resources written (issue 9: the last 100k must load at ≥ 80 % of the first 100k's
 * rate — writes must not slow down as the database grows), and the CPU each 100k cost — this process (the loader
 * threads) and the database's PostgreSQL processes — which other work on a shared machine disturbs less than the
 * rate.
 */
export class LoadRates {
  private readonly marks: { at: number; cpu: number }[] = [];
  private readonly start: { at: number; cpu: number };
  /** The database's processes, read every 200 ms so that those ending between two marks are counted. */
  private readonly database: DatabaseCpu;
  constructor(db: string) {
    this.database = new DatabaseCpu(db).every(200);
    this.start = this.sample();
  }

  private sample(): { at: number; cpu: number } {
    const own = process.cpuUsage();
    return { at: Date.now(), cpu: (own.user + own.system) / 1e6 + this.database.sample() };
  }

  private step(i: number): { rate: number; micros: number } {
    const prev = i ? this.marks[i - 1] : this.start;
    const m = this.marks[i];
    return { rate: RATE_STEP / ((m.at - prev.at) / 1000), micros: ((m.cpu - prev.cpu) * 1e6) / RATE_STEP };
  }

  /** Called with the running count after every batch; logs each 100k step as it completes. */
  record(n: number, log: (m: string) => void): void {
    while (n >= (this.marks.length + 1) * RATE_STEP) {
      this.marks.push(this.sample());
      const { rate, micros } = this.step(this.marks.length - 1);
      log(
        `  ${(this.marks.length * RATE_STEP).toLocaleString('en')} written: the last 100k at ${Math.round(rate).toLocaleString('en')}/s, ${Math.round(micros).toLocaleString('en')} µs of CPU per resource`,
      );
    }
  }

  stop(): void {
    this.database.stop();
  }

  summary(): string {
    if (this.marks.length < 2) return 'load rates: fewer than 200,000 resources written in this run, no ratio';
    const steps = this.marks.map((_, i) => this.step(i));
    const list = steps.map(
      (s, i) =>
        `  ${i * 100}k–${(i + 1) * 100}k: ${Math.round(s.rate).toLocaleString('en')}/s, ${Math.round(s.micros).toLocaleString('en')} µs CPU/resource`,
    );
    const first = steps[0];
    const last = steps[steps.length - 1];
    const ratio = last.rate / first.rate;
    return [
      "load per 100,000 resources (rate; CPU of the loader and of the database's PostgreSQL processes per resource):",
      ...list,
      `  last 100k / first 100k: rate ${(100 * ratio).toFixed(1)} % (target ≥ 80 %: ${ratio >= 0.8 ? 'PASS' : 'BELOW'}); ` +
        `CPU per resource ${(100 * (last.micros / first.micros)).toFixed(1)} % of the first 100k's`,
    ].join('\n');
  }
}

/** Runs `threads` loader workers over the chunk list (a shared counter hands out chunks); resolves with the count. */
function runLoaders(
  url: string,
  chunks: number[],
  patients: number,
  threads: number,
  progress: (n: number) => void,
  onWritten: (n: number) => void,
): Promise<number> {
  const next = new Int32Array(new SharedArrayBuffer(4));
  let written = 0;
  const timer = setInterval(() => progress(written), 15_000);
  const workers = Array.from(
    { length: threads },
    () =>
      new Promise<void>((resolve, reject) => {
        const w = new Worker(path.join(__dirname, 'search-load-worker.js'), { workerData: { url, chunks, patients, next: next.buffer } });
        w.on('message', (m: { written: number }) => {
          written += m.written;
          onWritten(written);
        });
        w.on('error', reject);
        w.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`loader thread exited with code ${code}`))));
      }),
  );
  return Promise.all(workers).then(
    () => {
      clearInterval(timer);
      return written;
    },
    (e: unknown) => {
      clearInterval(timer);
      throw e;
    },
  );
}
