/**
 * The operational contract (DESIGN.md §1) on the compiled server process: `serve` on an external database with
 * a worker per core, on the embedded PostgreSQL (also as root), `migrate`, health endpoints, structured logs with
 * request ids and no patient data, config errors, and graceful shutdown on SIGTERM (in-flight requests finish,
 * nothing acknowledged is lost, the embedded database stops cleanly).
 * Needs `dist/` (npm test builds it first).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { TEST_AUTH, adminTokens, authorizedFetch, basicAuth, createTestDatabase } from '../harness';
import { freePort } from '../../server/database/embedded';
import { MAIN, procAuth, start, waitReady } from './processes';

beforeAll(() => {
  if (!fs.existsSync(MAIN)) throw new Error(`${MAIN} is missing: run \`npm run build\` (npm test does it)`);
});

test('serve on an external database with 2 workers: health, request ids, redacted logs, graceful SIGTERM', async () => {
  const databaseUrl = await createTestDatabase();
  const port = await freePort();
  const proc = start(['serve'], { DATABASE_URL: databaseUrl, PORT: String(port), AROGYA_WORKERS: '2', LOG_LEVEL: 'info' });
  try {
    await waitReady(port, proc);
    const base = `http://127.0.0.1:${port}/fhir`;
    const { fetch, token } = procAuth(`http://127.0.0.1:${port}`);
    await token(); // before the burst below: the token endpoint is one more request the shutdown would refuse
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);

    const nhid = '91-7777-3333-1111';
    const body = JSON.stringify({
      resourceType: 'Patient',
      identifier: [{ system: 'https://healthid.abdm.gov.in', value: nhid }],
      name: [{ text: 'Kavita Deshpande' }],
    });
    const created = await fetch(`${base}/Patient`, {
      method: 'POST',
      body,
      headers: { 'content-type': 'application/fhir+json', 'x-request-id': 'trace-abc-123' },
    });
    expect(created.status).toBe(201);
    expect(created.headers.get('x-request-id')).toBe('trace-abc-123');
    const found = await fetch(`${base}/Patient?identifier=https://healthid.abdm.gov.in|${nhid}`);
    expect(((await found.json()) as { total: number }).total).toBe(1);

    // Fire a burst of writes and SIGTERM while they are in flight.
    const burst = Array.from({ length: 40 }, (_, i) =>
      fetch(`${base}/Basic`, {
        method: 'POST',
        body: JSON.stringify({ resourceType: 'Basic', code: { text: `burst ${i}` } }),
        headers: { 'content-type': 'application/fhir+json' },
      }).then(
        (r) => r.status,
        () => 0, // refused after shutdown began: never acknowledged
      ),
    );
    await new Promise((r) => setTimeout(r, 15));
    const t0 = Date.now();
    proc.child.kill('SIGTERM');
    const statuses = await Promise.all(burst);
    expect(await proc.exited).toBe(0);
    expect(Date.now() - t0).toBeLessThan(10_000); // no lingering keep-alive connections
    expect(statuses.every((s) => s === 201 || s === 0 || s === 503)).toBe(true);

    const client = new pg.Client({ connectionString: databaseUrl });
    await client.connect();
    try {
      const { rows } = await client.query<{ n: number }>(`SELECT count(*)::int AS n FROM resource WHERE resource_type = 'Basic'`);
      expect(rows[0].n).toBeGreaterThanOrEqual(statuses.filter((s) => s === 201).length); // nothing acknowledged was lost
      const hist = await client.query<{ n: number }>(`SELECT count(*)::int AS n FROM resource_history WHERE resource_type = 'Basic'`);
      expect(hist.rows[0].n).toBe(rows[0].n); // no half-written versions
    } finally {
      await client.end();
    }

    const logs = proc.output();
    const lines = logs
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.length).toBeGreaterThan(3);
    expect(lines.some((l) => l.reqId === 'trace-abc-123')).toBe(true);
    expect(logs).not.toContain(nhid);
    expect(logs).not.toContain('Kavita');
    expect(logs).not.toContain('client_secret'); // the admin client is configured, never printed or logged
  } finally {
    if (proc.child.exitCode === null) proc.child.kill('SIGKILL');
  }
}, 300_000);

test('SIGTERM while the workers are still starting is a clean shutdown (exit 0)', async () => {
  const databaseUrl = await createTestDatabase();
  const waitFor = async (cond: () => boolean | Promise<boolean>) => {
    const deadline = Date.now() + 120_000;
    while (!(await cond())) {
      if (Date.now() > deadline) throw new Error('timed out');
      await new Promise((r) => setTimeout(r, 5));
    }
  };
  // (a) the primary has migrated and is about to fork: its last log line before the workers
  {
    const port = await freePort();
    const proc = start(['serve'], { DATABASE_URL: databaseUrl, PORT: String(port), AROGYA_WORKERS: '2', LOG_LEVEL: 'info' });
    await waitFor(() => proc.output().includes('starting HTTP workers'));
    proc.child.kill('SIGTERM');
    expect(await proc.exited).toBe(0);
  }
  // (b) the first worker already answers, the primary may still wait for the second
  {
    const port = await freePort();
    const proc = start(['serve'], { DATABASE_URL: databaseUrl, PORT: String(port), AROGYA_WORKERS: '2', LOG_LEVEL: 'warn' });
    await waitFor(
      async () =>
        (await fetch(`http://127.0.0.1:${port}/readyz`).then(
          (r) => r.status,
          () => 0,
        )) === 200,
    );
    proc.child.kill('SIGTERM');
    expect(await proc.exited).toBe(0);
  }
}, 300_000);

test('serve on the embedded PostgreSQL (as root too): data persists across restarts, SIGTERM stops it cleanly', async () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'arogya-embedded-'));
  try {
    const port = await freePort();
    // no admin client configured: the first start generates one, keeps it (mode 0600) and prints it once
    const env = {
      AROGYA_DATA_DIR: dataDir,
      PORT: String(port),
      AROGYA_WORKERS: '1',
      LOG_LEVEL: 'warn',
      AROGYA_ADMIN_CLIENT_ID: '',
      AROGYA_ADMIN_CLIENT_SECRET: '',
    };
    let proc = start(['serve'], env);
    await waitReady(port, proc, 120_000);
    const origin = `http://127.0.0.1:${port}`;
    let { fetch } = procAuth(origin);
    if (TEST_AUTH === 'smart') {
      const file = path.join(dataDir, 'admin-client.json');
      expect((fs.statSync(file).mode & 0o777).toString(8)).toBe('600');
      const saved = JSON.parse(fs.readFileSync(file, 'utf8')) as { client_id: string; client_secret: string };
      expect(proc.output()).toContain(saved.client_secret);
      const token = adminTokens(origin, basicAuth(saved.client_id, saved.client_secret));
      fetch = (url, init) => authorizedFetch(token, url, init);
    }
    const put = await fetch(`http://127.0.0.1:${port}/fhir/Organization/arogya-pune`, {
      method: 'PUT',
      body: JSON.stringify({ resourceType: 'Organization', id: 'arogya-pune', name: 'Arogya Hospital, Pune' }),
      headers: { 'content-type': 'application/fhir+json' },
    });
    expect(put.status).toBe(201);
    proc.child.kill('SIGTERM');
    expect(await proc.exited).toBe(0);
    expect(fs.existsSync(path.join(dataDir, 'pg', 'postmaster.pid'))).toBe(false); // PostgreSQL shut down cleanly
    expect((fs.statSync(path.join(dataDir, 'pg-password')).mode & 0o777).toString(8)).toBe('600');

    proc = start(['serve'], env);
    await waitReady(port, proc, 120_000);
    if (TEST_AUTH === 'smart') {
      const saved = JSON.parse(fs.readFileSync(path.join(dataDir, 'admin-client.json'), 'utf8')) as { client_secret: string };
      expect(proc.output()).not.toContain(saved.client_secret); // printed once, at the first start only
    }
    const read = await fetch(`http://127.0.0.1:${port}/fhir/Organization/arogya-pune`);
    expect(read.status).toBe(200);
    expect(((await read.json()) as { name: string }).name).toBe('Arogya Hospital, Pune');
    proc.child.kill('SIGTERM');
    expect(await proc.exited).toBe(0);
  } finally {
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}, 400_000);

test('migrate applies migrations and exits; a bad setting is a clear configuration error', async () => {
  const databaseUrl = await createTestDatabase();
  const migrate = start(['migrate'], { DATABASE_URL: databaseUrl, LOG_LEVEL: 'info' });
  expect(await migrate.exited).toBe(0);
  expect(migrate.output()).toMatch(/up to date|migrations applied/);

  const bad = start(['serve'], { DATABASE_URL: databaseUrl, PORT: 'eighty' });
  expect(await bad.exited).toBe(2);
  expect(bad.output()).toContain('PORT must be an integer');

  const unknown = start(['dance'], { DATABASE_URL: databaseUrl });
  expect(await unknown.exited).toBe(2);
}, 120_000);
