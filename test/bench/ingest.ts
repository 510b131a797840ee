/**
 * Synthea transaction ingest (issue 4): resources/s of the real server process at production settings
 * (`node dist/server/main.js serve`, AROGYA_WORKERS=2, validation, search indexing and referential integrity on) on a
 * fresh database, with BENCH_CLIENTS concurrent clients POSTing the Synthea patient transaction bundles of
 * ../shared/fixtures (after the two infrastructure batch bundles they depend on), next to a raw baseline measured in
 * the same run: the same resources COPYed (`COPY … FROM STDIN`) into a table `(id text PRIMARY KEY, content jsonb)` by
 * the same number of clients, one COPY per bundle. Prints both, the ratio, and the target (≥ 1,500 resources/s).
 * It reports; it never fails on a figure (exit 0), only when it cannot run (exit 1).
 *
 *   npm run build && node dist/test/bench/ingest.js
 *
 * Env: DATABASE_URL (an external PostgreSQL, else embedded), BENCH_ROUNDS (times each patient bundle is sent,
 * default 8), BENCH_CLIENTS (4), BENCH_WORKERS (server workers, 2), BENCH_CPU_PROF=1 (profile the server workers).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { openBenchDatabase, type BenchDatabase } from './database';
import { serverErrors, startServer, type BenchServer } from './server';
import { summariseProfiles } from './profile';
import { formatProfile } from './report';

const FIXTURES = path.resolve(__dirname, '..', '..', '..', '..', 'shared', 'fixtures', 'synthea');
const FIXTURES_SRC = path.resolve(__dirname, '..', '..', '..', 'shared', 'fixtures', 'synthea');
const TARGET = 1500;

function intEnv(name: string, fallback: number): number {
  const v = Number(process.env[name] ?? fallback);
  if (!Number.isInteger(v) || v < 1) throw new Error(`${name} must be a positive integer`);
  return v;
}

const ROUNDS = intEnv('BENCH_ROUNDS', 8);
const CLIENTS = intEnv('BENCH_CLIENTS', 4);
const WORKERS = intEnv('BENCH_WORKERS', 2);
const CPU_PROF = process.env.BENCH_CPU_PROF === '1';

const started = Date.now();
const say = (msg: string): void => console.log(msg);
const step = (msg: string): void => console.log(`[${((Date.now() - started) / 1000).toFixed(1).padStart(5)} s] ${msg}`);
const num = (n: number): string => Math.round(n).toLocaleString('en-US');

interface Bundle {
  name: string;
  text: string;
  /** Each entry's resource as JSON text (for the raw baseline). */
  resources: string[];
}

function fixturesDir(): string {
  for (const d of [FIXTURES, FIXTURES_SRC]) if (fs.existsSync(d)) return d;
  throw new Error(`Synthea fixtures not found (looked in ${FIXTURES} and ${FIXTURES_SRC})`);
}

function loadBundles(): { infrastructure: Bundle[]; patients: Bundle[] } {
  const dir = fixturesDir();
  const files = fs
    .readdirSync(dir)
    .filter((d) => fs.statSync(path.join(dir, d)).isDirectory())
    .flatMap((d) =>
      fs
        .readdirSync(path.join(dir, d))
        .filter((f) => f.endsWith('.json'))
        .map((f) => path.join(dir, d, f)),
    )
    .sort();
  const read = (file: string): Bundle => {
    const text = fs.readFileSync(file, 'utf8');
    const parsed = JSON.parse(text) as { entry: { resource: unknown }[] };
    return { name: path.basename(file), text, resources: parsed.entry.map((e) => JSON.stringify(e.resource)) };
  };
  const infra = files.filter((f) => /hospitalInformation|practitionerInformation/.test(path.basename(f)));
  infra.sort((a, b) => Number(/practitioner/.test(a)) - Number(/practitioner/.test(b))); // hospitals first
  return { infrastructure: infra.map(read), patients: files.filter((f) => !infra.includes(f)).map(read) };
}

interface Phase {
  resources: number;
  seconds: number;
  perSecond: number;
}

async function postBundle(base: string, b: Bundle): Promise<number> {
  const res = await fetch(base, { method: 'POST', headers: { 'content-type': 'application/fhir+json', prefer: 'return=minimal' }, body: b.text });
  const body = (await res.json()) as { entry?: { response: { status: string } }[]; issue?: { diagnostics: string }[] };
  if (res.status !== 200) throw new Error(`${b.name}: HTTP ${res.status}: ${body.issue?.map((i) => i.diagnostics).join('; ')}`);
  const failed = (body.entry ?? []).filter((e) => !/^20[01]/.test(e.response.status));
  if (failed.length) throw new Error(`${b.name}: ${failed.length} entries failed (first: ${failed[0].response.status})`);
  return body.entry?.length ?? 0;
}

/** Runs `work` over `queue` with `clients` concurrent loops; returns the count and the wall time. */
async function drive<T>(queue: T[], clients: number, work: (item: T) => Promise<number>): Promise<Phase> {
  let next = 0;
  let resources = 0;
  const t0 = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (next < queue.length) {
        const n = await work(queue[next++]);
        resources += n;
      }
    }),
  );
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  return { resources, seconds, perSecond: resources / seconds };
}

/** COPY text format: backslash, newline, carriage return and tab are escaped. */
function copyField(text: string): string {
  return text.replace(/[\\\n\r\t]/g, (c) => (c === '\\' ? '\\\\' : c === '\n' ? '\\n' : c === '\r' ? '\\r' : '\\t'));
}

async function rawBaseline(url: string, queue: Bundle[]): Promise<Phase> {
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  await admin.query('DROP TABLE IF EXISTS raw_ingest; CREATE TABLE raw_ingest (id text PRIMARY KEY, content jsonb NOT NULL)');
  await admin.end();
  const escaped = new Map(queue.map((b) => [b, b.resources.map(copyField)]));
  const clients = await Promise.all(
    Array.from({ length: CLIENTS }, async () => {
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      return c;
    }),
  );
  let free = [...clients];
  try {
    return await drive(queue, CLIENTS, async (b) => {
      const client = free.pop()!;
      try {
        const rows = escaped.get(b)!;
        const payload = rows.map((r) => `${crypto.randomUUID()}\t${r}\n`).join('');
        await new Promise<void>((resolve, reject) => {
          const stream = client.query(copyFrom('COPY raw_ingest (id, content) FROM STDIN'));
          stream.on('finish', () => resolve());
          stream.on('error', reject);
          stream.end(payload);
        });
        return rows.length;
      } finally {
        free.push(client);
      }
    });
  } finally {
    free = [];
    await Promise.all(clients.map((c) => c.end()));
  }
}

let db: BenchDatabase | undefined;
let server: BenchServer | undefined;
const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'arogya-bench-ingest-'));
let keepWorkDir = false;

async function cleanup(): Promise<void> {
  await server?.stop().catch(() => undefined);
  await db?.close().catch(() => undefined);
  if (!keepWorkDir) fs.rmSync(workDir, { recursive: true, force: true });
}

for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(signal, () => {
    console.error(`\n${signal}: stopping the server and the database…`);
    void cleanup().finally(() => process.exit(130));
  });
}

async function main(): Promise<void> {
  say(`Arogya Synthea ingest benchmark — ${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.availableParallelism()} cores, Node ${process.version}`);
  const { infrastructure, patients } = loadBundles();
  const perRound = patients.reduce((n, b) => n + b.resources.length, 0);
  step(`fixtures: ${infrastructure.length} infrastructure bundles, ${patients.length} patient bundles (${num(perRound)} resources per round)`);
  db = await openBenchDatabase((m) => step(m));
  step(`database: ${db.description}`);

  const profDir = path.join(workDir, 'cpu-prof');
  server = await startServer({
    databaseUrl: db.url,
    workers: WORKERS,
    logFile: path.join(workDir, 'server.log'),
    nodeFlags: CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : [],
  });
  step(`server ready at ${server.base} (${WORKERS} workers)`);

  const infra = await drive(infrastructure, 1, (b) => postBundle(server!.base, b));
  step(
    `infrastructure batches (sequential, conditional creates): ${num(infra.resources)} resources in ${infra.seconds.toFixed(2)} s = ${num(infra.perSecond)}/s`,
  );

  const queue = Array.from({ length: ROUNDS }, () => patients).flat();
  // A short warm-up round (JIT, caches), not counted.
  await drive(patients, CLIENTS, (b) => postBundle(server!.base, b));
  const t0 = process.hrtime.bigint();
  const ingest = await drive(queue, CLIENTS, (b) => postBundle(server!.base, b));
  // V8's profile clock and hrtime are both CLOCK_MONOTONIC (µs here).
  const window: [number, number] = [Number(t0 / 1000n), Number(process.hrtime.bigint() / 1000n)];
  step(`transactions: ${queue.length} patient bundles, ${CLIENTS} clients: ${num(ingest.resources)} resources in ${ingest.seconds.toFixed(2)} s`);

  const errors = serverErrors(server.logFile);
  await server.stop();
  step('server stopped');
  if (errors.length) {
    keepWorkDir = true;
    say(`server logged errors (log: ${server.logFile}):\n${errors.map((l) => `  ${l}`).join('\n')}`);
  }

  const raw = await rawBaseline(db.url, queue);
  step(`raw COPY: ${num(raw.resources)} resources in ${raw.seconds.toFixed(2)} s`);

  const ratio = (100 * ingest.perSecond) / raw.perSecond;
  say('');
  say(`                                   resources/s`);
  say(
    `  Arogya transactions (HTTP)       ${num(ingest.perSecond).padStart(10)}   target ≥ ${num(TARGET)}: ${ingest.perSecond >= TARGET ? 'PASS' : 'BELOW'}`,
  );
  say(`  raw COPY (id, content jsonb)     ${num(raw.perSecond).padStart(10)}`);
  say(`  Arogya / raw                     ${ratio.toFixed(1).padStart(9)} %`);
  say(`  infrastructure batches (1 client) ${num(infra.perSecond).padStart(9)}`);
  if (CPU_PROF) {
    say(`\n${formatProfile('server CPU profile, transactions phase', summariseProfiles(profDir, window))}`);
  }
}

main()
  .then(() => cleanup())
  .catch(async (e: unknown) => {
    console.error(e instanceof Error ? e.stack : e);
    await cleanup();
    process.exit(1);
  });
