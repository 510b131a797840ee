/**
 * Bulk export benchmark (not CI): the peak memory (RSS) of a real server process — `node dist/server/main.js
 * serve`, one process, production settings — while it exports N resources with `$export`, next to the same
 * process idle, and the export's time next to a raw baseline in the same run: one pg cursor dumping the same
 * rows to a file (the least work an export can do). The target (issue 4): memory independent of N.
 *
 *   npm run build && node dist/test/bench/export.js
 *
 * Env: BENCH_EXPORT_N (resources, default 100000), DATABASE_URL (external PostgreSQL, else embedded). The
 * resources (Synthea-like Observations, ~1 KB each, over 1,000 Patients) are generated straight through the
 * repository's set-based write path, 1,000 versions per statement.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Cursor from 'pg-cursor';
import { createPool } from '../../server/database/pool';
import { Repository } from '../../server/repository/repository';
import type { VersionWrite } from '../../server/repository/writes';
import { openBenchDatabase, type BenchDatabase } from './database';
import { serverErrors, startServer, type BenchServer } from './server';

const N = Number(process.env.BENCH_EXPORT_N ?? 100_000);
if (!Number.isInteger(N) || N < 1) throw new Error('BENCH_EXPORT_N must be a positive integer');
const PATIENTS = Math.min(1000, N);
const BATCH = 1000;

const started = Date.now();
const step = (msg: string): void => console.log(`[${((Date.now() - started) / 1000).toFixed(1).padStart(6)} s] ${msg}`);
const mb = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;

function observation(i: number): Record<string, unknown> {
  return {
    resourceType: 'Observation',
    id: `bench-obs-${i}`,
    status: 'final',
    category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs', display: 'vital-signs' }] }],
    code: { coding: [{ system: 'http://loinc.org', code: '8867-4', display: 'Heart rate' }], text: 'Heart rate' },
    subject: { reference: `Patient/bench-patient-${i % PATIENTS}` },
    encounter: { reference: `Encounter/bench-encounter-${i % PATIENTS}` },
    effectiveDateTime: new Date(Date.UTC(2020, 0, 1) + i * 60_000).toISOString(),
    issued: new Date(Date.UTC(2020, 0, 1) + i * 60_000).toISOString(),
    valueQuantity: { value: 60 + (i % 40) + 0.25, unit: '/min', system: 'http://unitsofmeasure.org', code: '/min' },
    identifier: [{ system: 'https://arogya.example/bench', value: `obs-${i}` }],
    note: [{ text: 'Recorded by the bench: a resting pulse, taken sitting, after five minutes of rest; regular rhythm.' }],
  };
}

async function generate(db: BenchDatabase): Promise<void> {
  const pool = createPool(db.url, 2);
  const repo = new Repository(pool, { referentialIntegrity: false, baseUrl: 'http://127.0.0.1/fhir', timeZone: 'UTC' });
  try {
    const plan = (resourceType: string, id: string, body: Record<string, unknown>): VersionWrite =>
      repo.planVersion({ resourceType, id, versionId: 1, method: 'PUT', insert: true }, { ...body, resourceType, id } as never);
    const patients = Array.from({ length: PATIENTS }, (_, i) =>
      plan('Patient', `bench-patient-${i}`, { gender: i % 2 ? 'female' : 'male', birthDate: '1980-01-01' }),
    );
    const encounters = Array.from({ length: PATIENTS }, (_, i) =>
      plan('Encounter', `bench-encounter-${i}`, { status: 'finished', class: { code: 'AMB' }, subject: { reference: `Patient/bench-patient-${i}` } }),
    );
    await repo.executeWrites(pool, patients);
    await repo.executeWrites(pool, encounters);
    // two statements in flight: one being planned here while the database writes the other
    let inFlight: Promise<unknown> = Promise.resolve();
    for (let start = 0; start < N; start += BATCH) {
      const writes = Array.from({ length: Math.min(BATCH, N - start) }, (_, k) =>
        plan('Observation', `bench-obs-${start + k}`, observation(start + k)),
      );
      await inFlight;
      inFlight = repo.executeWrites(pool, writes);
      if ((start / BATCH) % 50 === 0) step(`generated ${start} of ${N} Observations`);
    }
    await inFlight;
    await pool.query('ANALYZE');
  } finally {
    await pool.end();
  }
}

/** The raw baseline: one cursor over the same rows, written to a file, in this process. */
async function rawDump(db: BenchDatabase, file: string): Promise<{ ms: number; rows: number }> {
  const pool = createPool(db.url, 1);
  const client = await pool.connect();
  const out = fs.createWriteStream(file);
  const t0 = Date.now();
  let rows = 0;
  try {
    await client.query('BEGIN READ ONLY');
    for (const type of ['Encounter', 'Observation', 'Patient']) {
      const cursor = client.query(
        new Cursor<{ content: string }>(`SELECT content::text AS content FROM resource WHERE resource_type = $1 AND NOT deleted`, [type]),
      );
      for (;;) {
        const batch = await cursor.read(BATCH);
        if (batch.length === 0) break;
        rows += batch.length;
        if (!out.write(`${batch.map((r) => r.content).join('\n')}\n`)) await new Promise<void>((r) => out.once('drain', () => r()));
      }
      await cursor.close();
    }
    await client.query('COMMIT');
  } finally {
    client.release();
    await pool.end();
    await new Promise<void>((r) => out.end(() => r()));
  }
  return { ms: Date.now() - t0, rows };
}

function rss(pid: number): { rss: number; hwm: number } {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) * 1024;
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

async function main(): Promise<void> {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'arogya-bench-export-'));
  let db: BenchDatabase | undefined;
  let server: BenchServer | undefined;
  const logFile = path.join(work, 'server.log');
  try {
    db = await openBenchDatabase((m) => step(m));
    step(`database: ${db.description}`);
    await generate(db);
    step(`generated ${N} Observations, ${PATIENTS} Patients, ${PATIENTS} Encounters`);

    process.env.AROGYA_DATA_DIR = path.join(work, 'data');
    server = await startServer({ databaseUrl: db.url, workers: 1, logFile });
    // warm the server up (definitions, JIT) so "idle" is a fair baseline
    for (let i = 0; i < 20; i++) await (await fetch(`${server.base}/Observation/bench-obs-${i}`)).text();
    const idle = rss(server.pid);
    step(`server idle: RSS ${mb(idle.rss)}`);

    const t0 = Date.now();
    const kick = await fetch(`${server.base}/$export`, { headers: { prefer: 'respond-async', accept: 'application/fhir+json' } });
    if (kick.status !== 202) throw new Error(`kick-off answered ${kick.status}: ${await kick.text()}`);
    const statusUrl = kick.headers.get('content-location')!;
    let peakSampled = idle.rss;
    let manifest: { output: { type: string; count: number; url: string }[] } | undefined;
    const sampler = setInterval(() => (peakSampled = Math.max(peakSampled, rss(server!.pid).rss)), 20);
    try {
      for (;;) {
        const res = await fetch(statusUrl);
        if (res.status === 200) {
          manifest = (await res.json()) as typeof manifest;
          break;
        }
        await res.arrayBuffer();
        if (res.status !== 202) throw new Error(`status answered ${res.status}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    } finally {
      clearInterval(sampler);
    }
    const exportMs = Date.now() - t0;
    const after = rss(server.pid);
    const exported = manifest!.output.reduce((a, o) => a + o.count, 0);
    const jobDir = path.join(work, 'data', 'bulk', 'jobs', statusUrl.split('/').pop()!);
    const bytes = fs.readdirSync(jobDir).reduce((a, f) => a + fs.statSync(path.join(jobDir, f)).size, 0);
    step(`exported ${exported} resources (${mb(bytes)} of NDJSON) in ${(exportMs / 1000).toFixed(1)} s`);

    const raw = await rawDump(db, path.join(work, 'raw.ndjson'));
    step(`raw baseline: ${raw.rows} rows dumped by one cursor in ${(raw.ms / 1000).toFixed(1)} s`);

    console.log('\nBulk export');
    console.log(`  resources              ${exported} (${(bytes / exported).toFixed(0)} bytes each on average, ${mb(bytes)} in all)`);
    console.log(
      `  export time            ${(exportMs / 1000).toFixed(1)} s, ${Math.round(exported / (exportMs / 1000))} resources/s (incl. queueing and polling)`,
    );
    console.log(`  raw cursor dump        ${(raw.ms / 1000).toFixed(1)} s → export takes ${(exportMs / raw.ms).toFixed(2)}× the raw dump`);
    const raised = after.hwm > idle.hwm; // VmHWM also covers start-up: count it only if the export raised it
    const peak = raised ? Math.max(peakSampled, after.hwm) : peakSampled;
    console.log(`  server RSS idle        ${mb(idle.rss)} (VmHWM since start ${mb(idle.hwm)})`);
    console.log(
      `  server RSS peak        ${mb(peak)} during the export (sampled every 20 ms: ${mb(peakSampled)}; VmHWM after ${mb(after.hwm)}${raised ? '' : ', set before the export'})`,
    );
    console.log(`  growth during export   ${mb(peak - idle.rss)}: peak = ${(peak / idle.rss).toFixed(2)}× idle, for ${mb(bytes)} exported`);
    const errors = serverErrors(logFile);
    if (errors.length) console.log(`  server errors:\n    ${errors.join('\n    ')}`);
  } finally {
    await server?.stop().catch(() => undefined);
    await db?.close().catch(() => undefined);
    fs.rmSync(work, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.stack : e);
  process.exit(1);
});
