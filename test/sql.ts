/**
 * For the unit tests of the search compiler (server/repository/search/compile/): a compiled condition evaluated by
 * the real PostgreSQL against one made-up index row, and a check that a statement binds every value it uses.
 */
import pg from 'pg';
import { createTestDatabase } from './harness';
import { SqlBuilder } from '../server/repository/search/compile/sql';

/** A column of the made-up row: its value and PostgreSQL type. */
export type Column = [unknown, string];

export interface SqlEvaluator {
  /** Whether the condition `build` makes over alias `t` holds for the row whose columns are `row`. */
  matches(build: (b: SqlBuilder, t: string) => string, row: Record<string, Column>): Promise<boolean>;
  close(): Promise<void>;
}

/** An evaluator on the test run's database server (no tables needed: the row is a SELECT of parameters). */
export function sqlEvaluator(): SqlEvaluator {
  const url = process.env.AROGYA_TEST_ADMIN_URL;
  if (!url) throw new Error('jest globalSetup did not run (AROGYA_TEST_ADMIN_URL unset)');
  const pool = new pg.Pool({ connectionString: url, max: 1 });
  return {
    async matches(build, row) {
      const b = new SqlBuilder();
      const cond = build(b, 't');
      const cols = Object.entries(row).map(([name, [value, type]]) => `${b.p(value, type)} AS ${name}`);
      expectBound(cond, b.params.length - cols.length);
      const { rows } = await pool.query<{ m: boolean | null }>(`SELECT (${cond}) AS m FROM (SELECT ${cols.join(', ')}) t`, b.params);
      return rows[0].m === true;
    },
    close: () => pool.end(),
  };
}

/** Every placeholder of `sql` is one of `count` parameters, and every parameter is used. */
export function expectBound(sql: string, count: number): void {
  const used = new Set([...sql.matchAll(/\$(\d+)/g)].map((m) => Number(m[1])));
  expect([...used].filter((n) => n < 1 || n > count)).toEqual([]);
  expect(used.size).toBe(count);
}

/**
 * A fresh migrated database of the test run, opened before the file's tests and closed after them, that plans
 * compiled statements on the real schema: `explain` fails when PostgreSQL cannot plan the statement.
 */
export function migratedDatabase(): { explain(sql: string, params: unknown[]): Promise<void> } {
  let pool: pg.Pool | undefined;
  beforeAll(async () => {
    pool = new pg.Pool({ connectionString: await createTestDatabase(), max: 1 });
  });
  afterAll(() => pool?.end());
  return {
    async explain(sql, params) {
      await pool!.query(`EXPLAIN ${sql}`, params);
    },
  };
}
