/**
 * The dispatcher's DELETE (server/events/pipeline.ts dispatchStart) on the real schema, with event_outbox as it is
 * under write load between two autovacuums: a few undispatched rows behind thousands of dead ones. Taking a batch
 * must cost a few primary-key probes, not a read of every page of the table.
 */
import pg from 'pg';
import { dispatchStart } from '../../server/events/pipeline';
import { createTestDatabase } from '../harness';

let client: pg.Client;

beforeAll(async () => {
  client = new pg.Client({ connectionString: await createTestDatabase() });
  await client.connect();
  // autovacuum off for this table: the dead rows stay, as they do for up to a minute under load
  await client.query(`ALTER TABLE event_outbox SET (autovacuum_enabled = off)`);
  await client.query(`
    INSERT INTO event_outbox (resource_type, resource_id, version_id, interaction, actor)
    SELECT 'Patient', g::text, 1, 'create', '{"kind":"system"}' FROM generate_series(1, 20000) g`);
  await client.query(`ANALYZE event_outbox`);
  await client.query(`DELETE FROM event_outbox WHERE id <= 19984`);
});

afterAll(() => client?.end());

/** The DELETE of a dispatch, as the dispatcher prepares it. */
const dispatchDelete = (): string =>
  dispatchStart(500, [], true)
    .split(';\n')[0]
    .replace(/^PREPARE arogya_dispatch_0 AS /, '');

test('a dispatch takes its batch through the primary key, never a sequential scan of the dead rows', async () => {
  // The first scan over the dead rows' index entries marks them dead (kill bits); the dispatches after it skip them.
  // A sequential scan gains nothing from that: it reads every page each time.
  await client.query('BEGIN');
  await client.query(dispatchDelete());
  await client.query('ROLLBACK');
  await client.query('BEGIN');
  try {
    const { rows } = await client.query<{ 'QUERY PLAN': string }>(`EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) ${dispatchDelete()}`);
    const plan = rows.map((r) => r['QUERY PLAN']).join('\n');
    expect(plan).not.toMatch(/Seq Scan on event_outbox/);
    expect(plan).toMatch(/Delete on event_outbox[^\n]*rows=16 /); // the 16 live rows, taken and deleted
    const pages = Number((await client.query<{ n: string }>(`SELECT pg_relation_size('event_outbox') / 8192 AS n`)).rows[0].n);
    const top = Number(/Buffers: shared hit=(\d+)/.exec(plan)?.[1]);
    expect(pages).toBeGreaterThan(200);
    expect(top).toBeLessThan(pages / 2);
  } finally {
    await client.query('ROLLBACK');
  }
});

test('the rows a dispatch takes are the oldest ones, each once', async () => {
  await client.query('BEGIN');
  try {
    const { rows } = await client.query<{ id: string }>(dispatchDelete());
    expect(rows.map((r) => Number(r.id)).sort((a, b) => a - b)).toEqual(Array.from({ length: 16 }, (_, i) => 19985 + i));
  } finally {
    await client.query('ROLLBACK');
  }
});
