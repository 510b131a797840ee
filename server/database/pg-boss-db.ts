/**
 * pg-boss's own database adapter (its pool, its events, opened and closed by pg-boss), with the parameterised
 * statements it repeats prepared once per connection.
 *
 * pg-boss 10 sends every statement unnamed, so PostgreSQL plans each one again; its job table is partitioned by
 * queue, which makes that planning the dearest part of a worker's idle poll — measured on this project's VM, 1.3–2.4
 * ms of PostgreSQL CPU per fetch against a few µs to execute it, with a dozen polls a second per server process.
 * Prepared, and with generic plans forced on its connections, a statement is planned once per connection and
 * prunes partitions when it runs.
 * Statements without parameters (pg-boss's DDL and its multi-statement scripts) go as they are.
 */
import './pg-boss-delay'; // before pg-boss loads (see there)
import crypto from 'node:crypto';
import type pg from 'pg';

/** The adapter's shape as pg-boss uses it (pg-boss/src/db.js). */
export interface BossDb {
  pool: pg.Pool;
  opened: boolean;
  /** Set: pg-boss opens and closes it, and forwards its errors. */
  isOurs: boolean;
  executeSql(text: string, values?: unknown[]): Promise<pg.QueryResult>;
}

const Db = require('pg-boss/src/db') as new (config: Record<string, unknown>) => BossDb;

/** Most distinct statement texts prepared (pg-boss has a few dozen); past it, statements go unnamed. */
const MAX_PREPARED = 200;

/** pg-boss's database adapter for `config` (connectionString, max, application_name: its pg.Pool's options). */
export function preparedBossDb(config: { connectionString: string; max: number; application_name: string }): BossDb {
  // Generic plans always: with the queue name a parameter, PostgreSQL would otherwise keep choosing a custom plan
  // (pruned at planning time, so estimated cheaper) and plan every execution anyway; the generic one prunes the
  // job table's partitions when it starts executing.
  const db = new Db({ ...config, options: '-c plan_cache_mode=force_generic_plan' });
  const names = new Map<string, string>();
  db.executeSql = async (text: string, values?: unknown[]): Promise<pg.QueryResult> => {
    // once closed, pg-boss's own adapter answers nothing (its loops are stopping)
    if (!db.opened) return undefined as never;
    if (!values || values.length === 0) return db.pool.query(text);
    let name = names.get(text);
    if (name === undefined && names.size < MAX_PREPARED) {
      name = `pgboss_${crypto.createHash('sha1').update(text).digest('hex').slice(0, 20)}`;
      names.set(text, name);
    }
    return name === undefined ? db.pool.query(text, values) : db.pool.query({ name, text, values });
  };
  db.isOurs = true;
  return db;
}
