/**
 * The dispatcher's DELETE (server/events/pipeline.ts dispatchStart) on the real schema, with event_outbox as it is
 * under write load between two autovacuums: a few undispatched rows behind thousands of dead ones. Taking a batch
 * must cost a few primary-key probes, not a read of every page of the table.
 */
import pg from 'pg';
import { dispatchResults, dispatchStart } from '../../server/events/pipeline';
import { createTestDatabase } from '../harness';

let client: pg.Client;

/** `n` outbox rows (the ids go on from the sequence). */
const append = (n: number) =>
  client.query(`
    INSERT INTO event_outbox (resource_type, resource_id, version_id, interaction, actor)
    SELECT 'Patient', g::text, 1, 'create', '{"kind":"system"}' FROM generate_series(1, ${n}) g`);

/** A dispatch's first round trip as the dispatcher sends it, rolled back; its plan when `explain`. */
async function dispatch(explain = false): Promise<{ ids: number[]; plan: string }> {
  const start = dispatchStart(500, [], false).replace('EXECUTE arogya_dispatch_0', `${explain ? 'EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) ' : ''}$&`);
  try {
    const results = (await client.query(start)) as unknown as pg.QueryResult[];
    const { rows } = dispatchResults(results, 0).deleted;
    return explain
      ? { ids: [], plan: rows.map((r: Record<string, string>) => r['QUERY PLAN']).join('\n') }
      : { ids: rows.map((r: { id: string }) => Number(r.id)), plan: '' };
  } finally {
    await client.query('ROLLBACK');
  }
}

beforeAll(async () => {
  client = new pg.Client({ connectionString: await createTestDatabase() });
  await client.connect();
  await client.query(dispatchStart(500, [], true).split(';\n')[0]); // the connection's PREPARE, as the dispatcher's
  // autovacuum off for this table: the dead rows stay, as they do for up to a minute under load
  await client.query(`ALTER TABLE event_outbox SET (autovacuum_enabled = off)`);
  // The first dispatch finds the table small (statistics and pages): the plan it makes is the one kept.
  await append(5);
  await client.query('ANALYZE event_outbox');
  await dispatch();
  // Then writes come, and the dispatches that followed left their rows dead: 16 live rows behind ~20,000 dead ones.
  await append(20000);
  await client.query('DELETE FROM event_outbox WHERE id <= 19989');
});

afterAll(() => client?.end());

test('a dispatch takes its batch through the primary key, never a sequential scan of the dead rows', async () => {
  const pages = Number((await client.query<{ n: string }>(`SELECT pg_relation_size('event_outbox') / 8192 AS n`)).rows[0].n);
  expect(pages).toBeGreaterThan(200); // what a sequential scan would read at every dispatch
  const { plan } = await dispatch(true);
  expect(plan).not.toMatch(/Seq Scan|Bitmap/);
  // the rows taken (inside) and the rows deleted (outside) are both found through the primary key
  expect(plan.match(/Index Scan using event_outbox_pkey on event_outbox/g)).toHaveLength(2);
  expect(plan).toMatch(/Delete on event_outbox[^\n]*rows=16 /); // the 16 live rows, taken and deleted
  // (How many pages the index scan reads depends on whether the dead entries are marked dead yet, which another
  // transaction of the cluster can hold back: not asserted.)
});

test('the rows a dispatch takes are the oldest ones, each once', async () => {
  const { ids } = await dispatch();
  expect(ids.sort((a, b) => a - b)).toEqual(Array.from({ length: 16 }, (_, i) => 19990 + i));
});

test('the planner settings are back to their defaults for the probes and the rest of the transaction', async () => {
  await client.query('DEALLOCATE ALL'); // prepared again below, with a probe
  const results = (await client.query(dispatchStart(500, ["SELECT current_setting('enable_seqscan') AS s"], true))) as unknown as pg.QueryResult[];
  await client.query('ROLLBACK');
  expect(dispatchResults(results, 1).probed[0].rows[0].s).toBe('on');
});
