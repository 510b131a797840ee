/**
 * Migrations runner (knex). Migrations are forward-only, small, plain-JavaScript files in migrations/ so that the
 * same files run from the TypeScript sources (tests) and from the compiled server.
 */
import fs from 'node:fs';
import path from 'node:path';
import knex from 'knex';
import type { Pool, PoolClient } from './pool';
import { PROJECT_ROOT } from '../version';

export const MIGRATIONS_DIR = path.join(PROJECT_ROOT, 'migrations');

/** A transaction-level advisory lock key, so that several starting processes migrate one at a time. */
const MIGRATION_LOCK = 74_201_127;

export async function migrateLatest(url: string): Promise<string[]> {
  const db = knex({ client: 'pg', connection: url, pool: { min: 0, max: 1 } });
  try {
    await db.raw('select pg_advisory_lock(?)', [MIGRATION_LOCK]);
    const [, applied] = (await db.migrate.latest({ directory: MIGRATIONS_DIR, loadExtensions: ['.js'] })) as [number, string[]];
    return applied;
  } finally {
    await db.raw('select pg_advisory_unlock(?)', [MIGRATION_LOCK]).catch(() => undefined);
    await db.destroy();
  }
}

export function expectedMigrations(): string[] {
  return fs
    .readdirSync(MIGRATIONS_DIR)
    .filter((f) => f.endsWith('.js'))
    .sort();
}

/** True when every migration file has been applied (for /readyz). */
export async function migrationsCurrent(pool: Pool | PoolClient): Promise<boolean> {
  const expected = expectedMigrations();
  const { rows } = await pool.query<{ name: string }>('select name from knex_migrations');
  const done = new Set(rows.map((r) => r.name));
  return expected.every((m) => done.has(m));
}
