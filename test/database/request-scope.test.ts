/**
 * A request's scope (server/database/request-scope.ts) against a real PostgreSQL: when its client goes away, the
 * statement it has running is cancelled, and no new statement of it reaches the database.
 */
import pg from 'pg';
import { databaseFailure } from '../../server/database/errors';
import { requestScope } from '../../server/database/request-scope';
import { createTestDatabase } from '../harness';

let pool: pg.Pool;
let admin: pg.Client;

beforeAll(async () => {
  const url = await createTestDatabase();
  pool = new pg.Pool({ connectionString: url, max: 2 });
  admin = new pg.Client({ connectionString: url });
  await admin.connect();
});

afterAll(async () => {
  await admin.end();
  await pool.end();
});

/** Statements with this marker running in the database now. */
async function running(marker: string): Promise<number> {
  const { rows } = await admin.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM pg_stat_activity WHERE state = 'active' AND query LIKE $1 AND pid <> pg_backend_pid()`,
    [`%${marker}%`],
  );
  return rows[0].n;
}

test('a statement running when the client leaves is cancelled, and its connection is not reused', async () => {
  const scope = requestScope();
  const slow = scope.db(pool).query(`SELECT pg_sleep(30) /* scope-running */`);
  const failed = slow.then(
    () => undefined,
    (e: unknown) => e,
  );
  for (let i = 0; i < 100 && (await running('scope-running')) === 0; i++) await new Promise((r) => setTimeout(r, 50));
  expect(await running('scope-running')).toBe(1);
  scope.clientGone();
  const e = await failed;
  expect((e as { code?: string }).code).toBe('57014');
  // The backend sends the error before it reports itself idle (and its connection is then closed): on a busy
  // machine pg_stat_activity can still show the statement for a moment after the client has the error.
  const deadline = Date.now() + 5000;
  while ((await running('scope-running')) > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  expect(await running('scope-running')).toBe(0);
  // the pool still serves others (the cancelled connection was destroyed, not handed back)
  expect((await pool.query<{ one: number }>('SELECT 1 AS one')).rows[0].one).toBe(1);
});

test('after the client has left, a new statement of its request never reaches the database', async () => {
  const scope = requestScope();
  const db = scope.db(pool);
  expect((await db.query<{ one: number }>('SELECT 1 AS one')).rows[0].one).toBe(1);
  scope.clientGone();
  const before = pool.totalCount - pool.idleCount;
  // pool.query (callback form inside pg-pool) and connect() (promise form) are both refused
  const viaQuery = await db.query(`SELECT pg_sleep(5) /* scope-after */`).catch((err: unknown) => err);
  const viaConnect = await db.connect().catch((err: unknown) => err);
  for (const err of [viaQuery, viaConnect]) {
    expect((err as { code?: string }).code).toBe('57014');
    expect(databaseFailure(err)).toBe('timeout'); // answered as a cancelled statement would be (503)
  }
  expect(await running('scope-after')).toBe(0);
  expect(pool.totalCount - pool.idleCount).toBe(before); // no connection left checked out
});
