/**
 * `npm run bench:search` (issue 3): search at a million resources. Loads (once, then reuses) the population of
 * search-population.ts — 100,000 Patients with ABHA numbers, 200,000 Encounters, 500,000 Observations, 200,000
 * MedicationRequests, 440 Organizations and Practitioners — through the server's own write path (search-load.ts),
 * starts the real server (`node dist/server/main.js serve`, 2 workers, LOG_LEVEL=warn) and measures seven query
 * shapes with autocannon (16 connections, 2 s warm-up + 10 s each, a different random value on every request):
 * throughput, median and p99 latency, against the targets (identifier lookup p99 < 5 ms and ≥ 2,000 req/s; every
 * other shape p99 < 50 ms for the first page). For each shape it prints the EXPLAIN (ANALYZE, BUFFERS) of the SQL
 * the search compiler generates — the first page, the accurate total when a search has more than one page, and
 * the include pass — and checks that no resource or index table is read by a sequential scan. Raw baseline in the
 * same run: the identifier lookup as one indexed statement through `pg` (16 clients, same duration).
 *
 * Env: DATABASE_URL (a PostgreSQL we may create databases on; default postgres://postgres@127.0.0.1:5432),
 * BENCH_SEARCH_DB (arogya_bench_search), BENCH_SEARCH_PATIENTS (100000), BENCH_SECONDS (10), BENCH_WARMUP (2),
 * BENCH_CONNECTIONS (16), BENCH_WORKERS (2), BENCH_SEARCH_SHAPES (comma-separated shape keys to run), BENCH_AUTH=off
 * (the server with AROGYA_AUTH=off: no token, no audit; default as deployed).
 * `--load-only` loads the population and exits. It reports; it never fails on a figure.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { searchParam } from '../../server/fhir/search/registry';
import { countSql, firstPageSql, includeSql } from '../../server/repository/search/execute';
import type { SearchRequest } from '../../server/repository/search/request';
import { parseSearch } from '../../server/fhir/search/parse';
import { cpuSnapshot, cpuSplit, postmasterOf } from './cpu';
import { loadWarning } from './report';
import { measureHttp, stopLoad, type PhaseResult } from './http-load';
import { ensurePopulation } from './search-load';
import {
  DAYS,
  FAMILY_NAMES,
  FEMALE_NAMES,
  FIRST_DAY,
  LOINC,
  MALE_NAMES,
  NHID_SYSTEM,
  OBSERVATION_CODES,
  nhidOf,
  patientGroup,
  patientId,
} from './search-population';
import { adminEnv, adminToken, benchAdmin, serverErrors, startServer, type BenchServer } from './server';

function intEnv(name: string, fallback: number): number {
  const v = Number(process.env[name] ?? fallback);
  if (!Number.isInteger(v) || v < 0) throw new Error(`${name} must be a non-negative integer`);
  return v;
}

const PATIENTS = intEnv('BENCH_SEARCH_PATIENTS', 100_000);
const SECONDS = intEnv('BENCH_SECONDS', 10);
const WARMUP = intEnv('BENCH_WARMUP', 2);
const CONNECTIONS = intEnv('BENCH_CONNECTIONS', 16);
const WORKERS = intEnv('BENCH_WORKERS', 2);
const ONLY = process.env.BENCH_SEARCH_SHAPES?.split(',').map((s) => s.trim());
const REINDEX = process.env.BENCH_SEARCH_REINDEX !== '0';
const AUTH_OFF = process.env.BENCH_AUTH === 'off';

const started = Date.now();
const say = (msg: string): void => console.log(msg);
const step = (msg: string): void => console.log(`[${((Date.now() - started) / 1000).toFixed(1).padStart(6)} s] ${msg}`);

// ------------------------------------------------------------------------------------------------------------
// Query shapes: each request draws its own random value, so caches do not flatter the figures.

let seed = 12345;
function random(): number {
  seed = (seed * 1103515245 + 12345) & 0x7fffffff;
  return seed / 0x80000000;
}
const anyPatient = (): number => Math.floor(random() * PATIENTS);
const pickOne = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)];
const day = (d: number): string => new Date((FIRST_DAY + d) * 86_400_000).toISOString().slice(0, 10);
const anyDay = (span: number): number => Math.floor(random() * (DAYS - span));
/** A name prefix (3–5 letters of a given or family name), lower case as a user types it. */
const namePrefix = (): string => {
  const name = pickOne([...FEMALE_NAMES, ...MALE_NAMES, ...FAMILY_NAMES]);
  return name.slice(0, 3 + Math.floor(random() * 3)).toLowerCase();
};

interface Shape {
  key: string;
  title: string;
  type: string;
  query: () => string;
  /** p99 target (ms) and minimum throughput (req/s) */
  p99: number;
  rps?: number;
}

const SHAPES: Shape[] = [
  {
    key: 'identifier',
    title: 'identifier lookup (ABHA number)',
    type: 'Patient',
    query: () => `identifier=${NHID_SYSTEM}|${nhidOf(anyPatient())}`,
    p99: 5,
    rps: 2000,
  },
  { key: 'name', title: 'name prefix', type: 'Patient', query: () => `name=${namePrefix()}`, p99: 50 },
  {
    key: 'date',
    title: 'date range (one week)',
    type: 'Encounter',
    query: () => {
      const d = anyDay(7);
      return `date=ge${day(d)}&date=lt${day(d + 7)}`;
    },
    p99: 50,
  },
  {
    key: 'token-date',
    title: 'token + date (LOINC code, one week)',
    type: 'Observation',
    query: () => {
      const d = anyDay(7);
      return `code=${LOINC}|${pickOne(OBSERVATION_CODES)[0]}&date=ge${day(d)}&date=lt${day(d + 7)}`;
    },
    p99: 50,
  },
  {
    key: 'token-date-month',
    title: 'token + date (LOINC code, one month)',
    type: 'Observation',
    query: () => {
      const d = anyDay(30);
      return `code=${LOINC}|${pickOne(OBSERVATION_CODES)[0]}&date=ge${day(d)}&date=lt${day(d + 30)}`;
    },
    p99: 50,
  },
  {
    key: 'chain',
    title: 'chained search (Encounter by patient ABHA)',
    type: 'Encounter',
    query: () => `subject:Patient.identifier=${NHID_SYSTEM}|${nhidOf(anyPatient())}`,
    p99: 50,
  },
  {
    key: 'include',
    title: "_include (a patient's MedicationRequests + patient + prescriber)",
    type: 'MedicationRequest',
    query: () => `subject=Patient/${patientId(anyPatient())}&_include=MedicationRequest:subject&_include=MedicationRequest:requester`,
    p99: 50,
  },
  {
    key: 'has',
    title: '_has (patients with an encounter on a day)',
    type: 'Patient',
    query: () => `_has:Encounter:subject:date=${day(anyDay(1))}`,
    p99: 50,
  },
];

// ------------------------------------------------------------------------------------------------------------
// Plans

interface PlanReport {
  text: string;
  seqScans: string[];
}

const INDEXED_TABLES = /^(resource|resource_history|resource_link|search_\w+)$/;

function seqScansOf(node: Record<string, unknown>, out: string[]): void {
  if (node['Node Type'] === 'Seq Scan' && INDEXED_TABLES.test(String(node['Relation Name']))) out.push(String(node['Relation Name']));
  for (const child of (node.Plans as Record<string, unknown>[] | undefined) ?? []) seqScansOf(child, out);
}

async function explain(db: pg.Client, label: string, q: { sql: string; params: unknown[] }): Promise<PlanReport> {
  const json = await db.query<{ 'QUERY PLAN': unknown }>(`EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ${q.sql}`, q.params);
  const raw = json.rows[0]['QUERY PLAN'];
  const plan = (typeof raw === 'string' ? JSON.parse(raw) : raw) as { Plan: Record<string, unknown> }[];
  const seqScans: string[] = [];
  seqScansOf(plan[0].Plan, seqScans);
  const text = await db.query<{ 'QUERY PLAN': string }>(`EXPLAIN (ANALYZE, BUFFERS) ${q.sql}`, q.params);
  return { text: `-- ${label}\n${text.rows.map((r) => r['QUERY PLAN']).join('\n')}`, seqScans };
}

/** EXPLAIN of what the server runs for one sample request of a shape: first page, total, includes. */
async function explainShape(db: pg.Client, base: string, shape: Shape, query: string): Promise<{ plans: PlanReport[]; sql: string }> {
  const parsed = parseSearch([shape.type], [...new URLSearchParams(query)], { timeZone: 'UTC', baseUrl: base });
  const req: SearchRequest = {
    types: [shape.type],
    criteria: parsed.criteria,
    sort: parsed.controls.sort,
    count: 20,
    include: parsed.controls.include,
    total: 'accurate',
  };
  const plans: PlanReport[] = [];
  const pages = firstPageSql(req);
  let rows: { id: string; resource_type: string }[] = [];
  for (const [i, q] of pages.entries()) {
    plans.push(await explain(db, `first page${pages.length > 1 ? `, section ${i + 1}` : ''}`, q));
    if (rows.length <= 20) rows.push(...(await db.query<{ id: string; resource_type: string }>(q.sql, q.params)).rows);
  }
  if (rows.length > 20) plans.push(await explain(db, 'accurate _total (runs only when there is more than one page)', countSql(req)));
  rows = rows.slice(0, 20);
  for (const spec of req.include) {
    const q = includeSql(
      spec,
      rows.map((r) => ({ resourceType: r.resource_type, id: r.id })),
      undefined,
      1000,
    );
    if (q) plans.push(await explain(db, `_include ${spec.sourceType}:${spec.params.join(',')}`, q));
  }
  return { plans, sql: pages.map((p) => p.sql).join('\n---\n') };
}

// ------------------------------------------------------------------------------------------------------------
// Raw baseline: the identifier lookup as one statement, 16 clients, same duration.

const RAW_SQL = `SELECT r.content FROM search_token t JOIN resource r ON r.id = t.id AND r.resource_type = t.resource_type
  WHERE t.resource_type = 'Patient' AND t.param = 'identifier' AND t.system = $1 AND t.code = $2 AND NOT r.deleted`;

async function rawBaseline(url: string, postmasterPid: number | undefined): Promise<PhaseResult> {
  const pool = new pg.Pool({ connectionString: url, max: CONNECTIONS, types: { getTypeParser: () => (v: string) => v } as pg.CustomTypesConfig });
  const clients = await Promise.all(Array.from({ length: CONNECTIONS }, () => pool.connect()));
  let phase: 'warmup' | 'measure' | 'stop' = 'warmup';
  const latencies: number[] = [];
  let errors = 0;
  const loop = async (c: pg.PoolClient): Promise<void> => {
    while (phase !== 'stop') {
      const t0 = performance.now();
      try {
        const { rows } = await c.query({ name: 'raw_nhid', text: RAW_SQL, values: [NHID_SYSTEM, nhidOf(anyPatient()).replace(/-/g, '')] });
        if (rows.length !== 1) throw new Error('no row');
        if (phase === 'measure') latencies.push(performance.now() - t0);
      } catch {
        errors++;
      }
    }
  };
  const loops = Promise.all(clients.map(loop));
  await new Promise((r) => setTimeout(r, WARMUP * 1000));
  const before = cpuSnapshot(undefined, postmasterPid);
  phase = 'measure';
  await new Promise((r) => setTimeout(r, SECONDS * 1000));
  phase = 'stop';
  const after = cpuSnapshot(undefined, postmasterPid);
  await loops;
  for (const c of clients) c.release();
  await pool.end();
  const sorted = Float64Array.from(latencies).sort();
  const pct = (p: number): number => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
  const cpu = cpuSplit(before, after);
  return {
    name: 'raw pg identifier lookup',
    requests: latencies.length,
    seconds: cpu.seconds,
    perSecond: latencies.length / cpu.seconds,
    p50: pct(50),
    p99: pct(99),
    non2xx: 0,
    errors,
    statusCodes: {},
    cpu,
    window: [Number(before.at / 1000n), Number(after.at / 1000n)],
  };
}

// ------------------------------------------------------------------------------------------------------------
// A custom SearchParameter on the loaded population: its reindex, with writes going on meanwhile, then its removal.

const CUSTOM_CODE = 'bench-nhid';

interface ReindexReport {
  total: number;
  waitSeconds: number;
  reindexSeconds: number;
  writes: number;
  writeP50: number;
  writeP99: number;
  writeErrors: number;
  found: boolean;
  purgeSeconds: number;
  rows: number;
}

async function reindexPhase(base: string, db: pg.Client, auth: Record<string, string>): Promise<ReindexReport> {
  const json = async (method: string, url: string, body?: unknown): Promise<{ status: number; body: Record<string, any> }> => {
    const res = await fetch(`${base}${url}`, {
      method,
      headers: { 'content-type': 'application/fhir+json', ...auth },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
  };
  // a parameter left over by an interrupted run
  const old = await json('GET', `/SearchParameter?code=${CUSTOM_CODE}`);
  for (const e of (old.body.entry ?? []) as { resource: { id: string } }[]) await json('DELETE', `/SearchParameter/${e.resource.id}`);
  const rows = async (): Promise<number> =>
    (await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM search_token WHERE resource_type = 'Patient' AND param = $1`, [CUSTOM_CODE]))
      .rows[0].n;
  for (let i = 0; i < 600 && (await rows()) > 0; i++) await new Promise((r) => setTimeout(r, 500));

  const t0 = Date.now();
  const created = await json('POST', '/SearchParameter', {
    resourceType: 'SearchParameter',
    url: `https://arogya.example.in/fhir/SearchParameter/${CUSTOM_CODE}`,
    name: 'BenchNhid',
    status: 'active',
    description: 'ABHA number (NHID) of a patient, as written',
    code: CUSTOM_CODE,
    base: ['Patient'],
    type: 'token',
    expression: `Patient.identifier.where(system='${NHID_SYSTEM}').value`,
  });
  if (created.status !== 201) throw new Error(`POST SearchParameter answered ${created.status}: ${JSON.stringify(created.body)}`);
  const id = created.body.id as string;

  // Writes while the job runs: 4 clients PUT existing Patients (their own content: each takes the row lock a real
  // update takes, then finds nothing changed).
  let writing = true;
  const latencies: number[] = [];
  let writeErrors = 0;
  const writer = async (): Promise<void> => {
    while (writing) {
      const g = anyPatient();
      const body = JSON.stringify(patientGroup(g)[0]);
      const t = performance.now();
      const res = await fetch(`${base}/Patient/${patientId(g)}`, {
        method: 'PUT',
        headers: { 'content-type': 'application/fhir+json', ...auth },
        body,
      });
      await res.arrayBuffer();
      if (res.status === 200) latencies.push(performance.now() - t);
      else writeErrors++;
    }
  };
  const writers = Array.from({ length: 4 }, writer);

  let started: number | undefined;
  let lastLog = 0;
  let total = 0;
  for (;;) {
    const s = await json('GET', `/SearchParameter/${id}/$reindex-status`);
    const p = Object.fromEntries(
      (s.body.parameter as Record<string, unknown>[]).map((x) => [x.name, Object.entries(x).find(([k]) => k.startsWith('value'))?.[1]]),
    );
    total = Number(p.total ?? 0);
    if (started === undefined && p.phase !== 'waiting' && p.phase !== undefined) started = Date.now();
    if (Date.now() - lastLog > 5000) {
      lastLog = Date.now();
      step(
        `  reindex ${CUSTOM_CODE}: ${String(p.status)} ${String(p.phase ?? '')} ${String(p.progress)} % (${String(p.processed)} of ${String(p.total ?? '?')})`,
      );
    }
    if (p.status === 'active') break;
    if (p.status === 'failed') throw new Error(`the reindex failed: ${String(p.error)}`);
    if (Date.now() - t0 > 900_000) throw new Error('the reindex did not finish within 15 minutes');
    await new Promise((r) => setTimeout(r, 250));
  }
  const done = Date.now();
  writing = false;
  await Promise.all(writers);
  const g = anyPatient();
  const found = await json('GET', `/Patient?${CUSTOM_CODE}=${nhidOf(g)}`);
  const indexed = await rows();
  const ok = found.status === 200 && (found.body.entry ?? [])[0]?.resource?.id === patientId(g);

  const p0 = Date.now();
  await json('DELETE', `/SearchParameter/${id}`);
  for (let i = 0; i < 1200 && (await rows()) > 0; i++) await new Promise((r) => setTimeout(r, 250));
  const sorted = Float64Array.from(latencies).sort();
  const pct = (x: number): number => sorted[Math.min(sorted.length - 1, Math.floor((x / 100) * sorted.length))];
  return {
    total,
    waitSeconds: ((started ?? done) - t0) / 1000,
    reindexSeconds: (done - (started ?? t0)) / 1000,
    writes: latencies.length,
    writeP50: pct(50),
    writeP99: pct(99),
    writeErrors,
    found: ok,
    purgeSeconds: (Date.now() - p0) / 1000,
    rows: indexed,
  };
}

// ------------------------------------------------------------------------------------------------------------

let server: BenchServer | undefined;
let interrupted = false;
const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'arogya-bench-search-'));

for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(signal, () => {
    if (interrupted) return;
    interrupted = true;
    console.error(`\n${signal}: stopping the load and the server…`);
    stopLoad();
    void (server?.stop() ?? Promise.resolve()).finally(() => process.exit(130));
  });
}

/** Waits (up to 60 s) until no statement of a previous phase still runs on the database (a client that timed out
 * leaves its statement running), so that one phase's backlog never weighs on the next. */
async function untilIdle(db: pg.Client): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const { rows } = await db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND state = 'active' AND pid <> pg_backend_pid()`,
    );
    if (rows[0].n === 0 || Date.now() > deadline) return;
    await new Promise((r) => setTimeout(r, 250));
  }
}

const fmt = (n: number, d = 1): string => (Number.isFinite(n) ? n.toFixed(d) : '-');

async function main(): Promise<void> {
  say(`Arogya search benchmark — ${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.availableParallelism()} cores, Node ${process.version}`);
  const population = await ensurePopulation(PATIENTS, step);
  step(
    `population: ${population.resources.toLocaleString('en')} resources (${population.patients.toLocaleString('en')} patients), loaded ${population.loadedAt} in ${Math.round(population.loadSeconds)} s`,
  );
  if (process.argv.includes('--load-only')) return;

  const db = new pg.Client({ connectionString: population.url });
  await db.connect();
  const { rows: sizes } = await db.query<{ size: string; pid: number; version: string }>(
    `SELECT pg_size_pretty(pg_database_size(current_database())) AS size, pg_backend_pid() AS pid, current_setting('server_version') AS version`,
  );
  const postmasterPid = postmasterOf(sizes[0].pid);
  step(`database ${new URL(population.url).pathname.slice(1)}: ${sizes[0].size}, PostgreSQL ${sizes[0].version}`);
  if (!searchParam('Patient', 'identifier')) throw new Error('search registry not loaded');

  // as deployed: SMART on, every request with the bench admin client's bearer token, the audit log on;
  // BENCH_AUTH=off: AROGYA_AUTH=off, no token, no audit (to tell their cost from the rest's)
  const admin = benchAdmin();
  const env = AUTH_OFF ? { AROGYA_AUTH: 'off' } : adminEnv(admin);
  server = await startServer({ databaseUrl: population.url, workers: WORKERS, logFile: path.join(workDir, 'server.log'), env });
  const auth: Record<string, string> = AUTH_OFF ? {} : { authorization: `Bearer ${await adminToken(server.base, admin)}` };
  step(
    `server ready at ${server.base} (${WORKERS} workers, ${AUTH_OFF ? 'AROGYA_AUTH=off: no token, no audit' : "SMART on with the admin client's bearer token, audit on"})`,
  );

  const shapes = SHAPES.filter((s) => !ONLY || ONLY.includes(s.key));
  const results: { shape: Shape; result: PhaseResult; plans: PlanReport[]; sample: string; matches: number; total?: number }[] = [];
  for (const shape of shapes) {
    await untilIdle(db);
    // A sample request: it must succeed and find something; its plans are printed.
    let sample = '';
    let matches = 0;
    let total: number | undefined;
    for (let attempt = 0; attempt < 20 && matches === 0; attempt++) {
      sample = shape.query();
      const res = await fetch(`${server.base}/${shape.type}?${sample}`, { headers: auth });
      const body = (await res.json()) as { total?: number; entry?: { search: { mode: string } }[]; issue?: { diagnostics: string }[] };
      if (res.status !== 200) throw new Error(`${shape.type}?${sample} answered ${res.status}: ${body.issue?.[0]?.diagnostics}`);
      matches = (body.entry ?? []).filter((e) => e.search.mode === 'match').length;
      total = body.total;
    }
    const { plans } = await explainShape(db, server.base, shape, sample);
    step(
      `${shape.key}: ${shape.type}?${sample} → ${matches} on the first page (total ${total ?? '-'}); ${CONNECTIONS} connections, ${WARMUP} s warm-up + ${SECONDS} s`,
    );
    const result = await measureHttp({
      name: shape.key,
      url: server.base,
      connections: CONNECTIONS,
      warmupSeconds: WARMUP,
      seconds: SECONDS,
      serverPid: server.pid,
      postmasterPid,
      requests: [{ method: 'GET', headers: auth, setupRequest: (req) => ({ ...req, path: `/fhir/${shape.type}?${shape.query()}` }) }],
    });
    results.push({ shape, result, plans, sample, matches, total });
    if (interrupted) return;
  }
  let reindex: ReindexReport | undefined;
  if (REINDEX && !interrupted) {
    await untilIdle(db);
    step(
      `custom SearchParameter '${CUSTOM_CODE}' (token, Patient.identifier.where(system=NHID).value): POST, reindex with 4 writers running, search, DELETE`,
    );
    reindex = await reindexPhase(server.base, db, auth);
  }
  const errors = serverErrors(server.logFile);
  await server.stop();
  server = undefined;
  step('server stopped');
  if (errors.length) say(`server logged errors (log kept in ${workDir}):\n${errors.map((l) => `  ${l}`).join('\n')}`);

  step(`raw baseline: ${CONNECTIONS} pg clients, ${WARMUP} s warm-up + ${SECONDS} s`);
  const raw = await rawBaseline(population.url, postmasterPid);
  await db.end();

  say('');
  say('Plans (EXPLAIN ANALYZE, BUFFERS) of the SQL the search compiler generates for one sample request per shape:');
  for (const r of results) {
    say('');
    say(`=== ${r.shape.title}: GET /fhir/${r.shape.type}?${r.sample}`);
    for (const p of r.plans) say(p.text);
  }
  say('');
  say(
    `Results: ${population.resources.toLocaleString('en')} resources; ${CONNECTIONS} connections, ${SECONDS} s measured after ${WARMUP} s warm-up; server: ${WORKERS} workers; default _total (given when the first page holds every match) and _count (20)`,
  );
  const header = ['shape', 'req/s', 'p50 ms', 'p99 ms', 'non-2xx', 'target', 'result', 'index-only plan'];
  const rows: string[][] = [header];
  for (const r of results) {
    const pass =
      r.result.p99 < r.shape.p99 &&
      (r.shape.rps === undefined || r.result.perSecond >= r.shape.rps) &&
      r.result.non2xx === 0 &&
      r.result.errors === 0;
    const seq = [...new Set(r.plans.flatMap((p) => p.seqScans))];
    rows.push([
      r.shape.title,
      fmt(r.result.perSecond, 0),
      fmt(r.result.p50),
      fmt(r.result.p99),
      String(r.result.non2xx + r.result.errors),
      `p99 < ${r.shape.p99} ms${r.shape.rps ? `, ≥ ${r.shape.rps} req/s` : ''}`,
      pass ? 'PASS' : 'BELOW',
      seq.length ? `NO: Seq Scan on ${seq.join(', ')}` : 'yes',
    ]);
  }
  rows.push([
    'raw pg: identifier lookup (one indexed statement)',
    fmt(raw.perSecond, 0),
    fmt(raw.p50, 2),
    fmt(raw.p99, 2),
    String(raw.errors),
    'baseline',
    '',
    '',
  ]);
  const widths = header.map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  for (const [i, r] of rows.entries()) {
    say(r.map((c, k) => (k === 0 ? c.padEnd(widths[k]) : c.padStart(widths[k]))).join('  '));
    if (i === 0) say(widths.map((w) => '-'.repeat(w)).join('  '));
  }
  const ident = results.find((r) => r.shape.key === 'identifier');
  if (ident) say(`identifier lookup through the server: ${fmt((100 * ident.result.perSecond) / raw.perSecond, 0)} % of the raw pg throughput`);
  say('');
  say('CPU during each phase (CPU-seconds per second): server node processes / postgres / load generator / other');
  for (const r of [...results.map((x) => x.result), raw]) {
    const c = r.cpu;
    say(
      `  ${r.name.padEnd(26)} ${fmt(c.server / c.seconds, 2)} / ${fmt(c.postgres / c.seconds, 2)} / ${fmt(c.loadGenerator / c.seconds, 2)} / ${c.other !== undefined ? fmt(c.other / c.seconds, 2) : '-'}`,
    );
  }
  const warning = loadWarning([...results.map((x) => x.result), raw]);
  if (warning) say(warning);
  if (reindex) {
    say('');
    say(
      `Custom SearchParameter '${CUSTOM_CODE}' on ${reindex.total.toLocaleString('en')} Patients: pending ${fmt(reindex.waitSeconds)} s (grace for every process to load it), ` +
        `reindexed in ${fmt(reindex.reindexSeconds)} s (${fmt(reindex.total / reindex.reindexSeconds, 0)} resources/s), ${reindex.rows.toLocaleString('en')} index rows; ` +
        `search by it afterwards: ${reindex.found ? 'found the patient' : 'NOT FOUND'}`,
    );
    say(
      `  meanwhile ${reindex.writes} PUT Patient by 4 clients: p50 ${fmt(reindex.writeP50)} ms, p99 ${fmt(reindex.writeP99)} ms, ${reindex.writeErrors} errors; ` +
        `after DELETE its rows were purged in ${fmt(reindex.purgeSeconds)} s`,
    );
  }
  say('');
  say(`total time ${((Date.now() - started) / 1000).toFixed(0)} s`);
}

main()
  .then(() => {
    fs.rmSync(workDir, { recursive: true, force: true });
    process.exit(0);
  })
  .catch(async (e: unknown) => {
    if (interrupted) return;
    console.error(`search benchmark failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    await server?.stop().catch(() => undefined);
    process.exit(1);
  });
