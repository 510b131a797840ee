/**
 * server/database/pg-boss-db.ts: pg-boss on its prepared-statement adapter works as before (queues, send, fetch,
 * complete), while its parameterised statements are prepared on the connection (generic plans: no planning per
 * worker poll) and its parameterless scripts go as they are.
 */
import '../../server/database/pg-boss-delay';
import PgBoss from 'pg-boss';
import { preparedBossDb } from '../../server/database/pg-boss-db';
import { createTestDatabase } from '../harness';

test('pg-boss runs on the adapter, and the statements its polls repeat are prepared with generic plans', async () => {
  const url = await createTestDatabase();
  // one connection, so the session asked about below is the one pg-boss used
  const db = preparedBossDb({ connectionString: url, max: 1, application_name: 'arogya-test-boss' });
  const boss = new PgBoss({ db, schedule: false, supervise: false });
  await boss.start();
  try {
    await boss.createQueue('adapter-check');
    const sent = await boss.send('adapter-check', { n: 1 });
    expect(sent).toEqual(expect.any(String));
    const [first] = await boss.fetch<{ n: number }>('adapter-check');
    expect(first.data).toEqual({ n: 1 });
    for (let i = 0; i < 3; i++) expect(await boss.fetch('adapter-check')).toEqual([]); // the job is taken: empty polls
    await boss.send('adapter-check', { n: 2 });
    const [second] = await boss.fetch<{ n: number }>('adapter-check');
    expect(second.data).toEqual({ n: 2 });
    await boss.complete('adapter-check', [first.id, second.id]);
    const { rows } = await db.pool.query<{ name: string; mode: string }>(
      `SELECT name, current_setting('plan_cache_mode') AS mode FROM pg_prepared_statements WHERE name LIKE 'pgboss\\_%'`,
    );
    expect(rows.length).toBeGreaterThan(0);
    expect(rows[0].mode).toBe('force_generic_plan');
    const fetches = await db.pool.query<{ n: number; generic: number }>(
      `SELECT count(*)::int AS n, coalesce(sum(generic_plans), 0)::int AS generic FROM pg_prepared_statements
        WHERE name LIKE 'pgboss\\_%' AND statement LIKE '%FOR UPDATE SKIP LOCKED%'`,
    );
    expect(fetches.rows[0].n).toBe(1); // the fetch: one statement, prepared once, run five times
    expect(fetches.rows[0].generic).toBeGreaterThanOrEqual(5);
  } finally {
    await boss.stop({ graceful: false, wait: true });
  }
});
