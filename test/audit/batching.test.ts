/**
 * The audit log is written off the request path, in batches (server/audit/log.ts): a response does not wait for its
 * AuditEvent, a full batch is written at once, the rest within the flush interval, and a clean stop (app.close, as
 * after a drain) writes whatever is still in memory.
 */
import pg from 'pg';
import { AuditLog, isoInstant } from '../../server/audit/log';
import { loadConfig } from '../../server/config';
import { createTestDatabase, startServer } from '../harness';

async function rowsIn(databaseUrl: string, sql: string, values: unknown[] = []): Promise<number> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    return (await client.query(sql, values)).rowCount ?? 0;
  } finally {
    await client.end();
  }
}

test('events wait in memory, and closing the app writes them all', async () => {
  const server = await startServer({ audit: true, auditFlushMs: 10_000 });
  let closed = false;
  try {
    const created = await server.request('POST', '/Patient', { body: { resourceType: 'Patient', gender: 'female' } });
    expect(created.status).toBe(201);
    for (let i = 0; i < 5; i++) {
      expect((await server.request('GET', `/Patient/${created.body.id}`, { headers: { 'x-request-id': `close-${i}` } })).status).toBe(200);
    }
    // answered, not yet written: the flush interval has not passed
    expect(server.app.audit!.pending).toBeGreaterThanOrEqual(6);
    expect(await rowsIn(server.databaseUrl, `SELECT 1 FROM audit_event WHERE request_id LIKE 'close-%'`)).toBe(0);
    await server.close();
    closed = true;
    expect(
      await rowsIn(server.databaseUrl, `SELECT 1 FROM audit_event WHERE request_id LIKE 'close-%' AND $1 = ANY(patient)`, [created.body.id]),
    ).toBe(5);
  } finally {
    if (!closed) await server.close();
  }
});

test('a full batch is written at once as one INSERT; what follows waits for the next flush', async () => {
  const url = await createTestDatabase();
  const pool = new pg.Pool({ connectionString: url, max: 2 });
  const warnings: string[] = [];
  try {
    const log = new AuditLog(pool, { flushMs: 60_000, maxBatch: 3, warn: (m) => warnings.push(m) });
    const event = (requestId: string) =>
      log.record({
        type: 'rest',
        subtype: 'read',
        action: 'R',
        outcome: 0,
        requestId,
        patient: ['p1'],
        detail: { entities: ['Patient/p1/_history/1'] },
      });
    for (const id of ['b1', 'b2', 'b3']) event(id);
    const count = () => rowsIn(url, `SELECT 1 FROM audit_event WHERE request_id LIKE 'b%'`);
    const deadline = Date.now() + 10_000;
    while ((await count()) < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(await count()).toBe(3); // the full batch, long before the 60 s interval
    event('b4');
    expect(log.pending).toBe(1);
    expect(await count()).toBe(3);
    await log.flush();
    expect(await count()).toBe(4);
    const { rows } = await pool.query(`SELECT request_id FROM audit_event ORDER BY id`);
    expect(rows.map((r) => r.request_id)).toEqual(['b1', 'b2', 'b3', 'b4']); // time-ordered ids
    expect(warnings).toEqual([]);
  } finally {
    await pool.end();
  }
});

test('a batch the database refused is kept and written once it can be', async () => {
  const url = await createTestDatabase();
  const pool = new pg.Pool({ connectionString: url, max: 2 });
  const warnings: string[] = [];
  try {
    await pool.query('ALTER TABLE audit_batch RENAME TO audit_batch_away');
    const log = new AuditLog(pool, { flushMs: 20, warn: (m) => warnings.push(m) });
    log.record({ type: '110114', subtype: 'token', action: 'E', outcome: 4, clientId: 'c1', detail: { reason: 'invalid_client' } });
    await log.flush();
    expect(log.pending).toBe(1);
    expect(warnings[0]).toMatch(/^audit: 1 events not written yet \(42P01\)/);
    await pool.query('ALTER TABLE audit_batch_away RENAME TO audit_batch');
    await log.flush();
    expect(log.pending).toBe(0);
    expect(await rowsIn(url, `SELECT 1 FROM audit_event WHERE client_id = 'c1' AND outcome = 4`)).toBe(1);
  } finally {
    await pool.end();
  }
});

test("an event's time is written as toISOString writes it (formatted once a second, milliseconds appended)", () => {
  const instants = [0, 5, 50, 999, 1000, Date.UTC(2026, 11, 31, 23, 59, 59, 999), Date.UTC(2027, 0, 1), Date.now()];
  for (let i = 0; i < 1000; i++) instants.push(Math.floor(Math.random() * 4e12));
  for (const ms of instants) expect(isoInstant(ms)).toBe(new Date(ms).toISOString());
});

test('by default a batch waits at most 50 ms and holds at most 200 events (shorter than the young generation lives)', async () => {
  expect(loadConfig({}).auditFlushMs).toBe(50);
  const url = await createTestDatabase();
  const pool = new pg.Pool({ connectionString: url, max: 2 });
  const warnings: string[] = [];
  try {
    // a long interval: only the default count can write the first 200 at once
    const log = new AuditLog(pool, { flushMs: 60_000, warn: (m) => warnings.push(m) });
    const event = (i: number) => log.record({ type: 'rest', subtype: 'read', action: 'R', outcome: 0, requestId: `d${i}` });
    for (let i = 0; i < 199; i++) event(i);
    await new Promise((r) => setTimeout(r, 200));
    expect(log.pending).toBe(199); // one short of a full batch: it waits
    event(199);
    const count = () => rowsIn(url, `SELECT 1 FROM audit_event WHERE request_id LIKE 'd%'`);
    const deadline = Date.now() + 10_000;
    while ((await count()) < 200 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(await count()).toBe(200);
    expect(await rowsIn(url, 'SELECT 1 FROM audit_batch')).toBe(1);
    event(200);
    expect(log.pending).toBe(1); // the next batch waits for its interval
    await log.flush();
    expect(await count()).toBe(201);
    expect(warnings).toEqual([]);
  } finally {
    await pool.end();
  }
});
