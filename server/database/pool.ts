/**
 * The PostgreSQL connection pool. jsonb and timestamptz columns are handed over as text: resource bodies are
 * parsed losslessly (fhir/json.ts) or sent on unparsed, and instants are formatted by the database itself.
 */
import pg from 'pg';
import type { Config } from '../config';

const JSONB_OID = 3802;
const JSON_OID = 114;
const TIMESTAMPTZ_OID = 1184;
const INT8_OID = 20;

const textTypes: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: string) => {
    if (oid === JSONB_OID || oid === JSON_OID || oid === TIMESTAMPTZ_OID) return (v: string) => v;
    if (oid === INT8_OID) return (v: string) => Number(v);
    return pg.types.getTypeParser(oid, format as 'text');
  }) as pg.CustomTypesConfig['getTypeParser'],
};

export type Pool = pg.Pool;
export type PoolClient = pg.PoolClient;
/** Where a statement runs: the pool (autocommit), or the connection of a transaction in progress. */
export type Db = pg.Pool | pg.PoolClient;

/** Bounds on a serving pool's work: each statement (server-side) and each wait for a connection. */
export interface PoolLimits {
  /** statement_timeout of every connection (ms; 0 or absent: none). */
  statementTimeoutMs?: number;
  /** Longest wait for a free (or new) connection (ms; absent: forever). */
  connectionTimeoutMs?: number;
}

/** The limits of the pool a server process answers requests from (config.ts). */
export function servingLimits(config: Pick<Config, 'statementTimeoutMs' | 'poolTimeoutMs'>): PoolLimits {
  return { statementTimeoutMs: config.statementTimeoutMs, connectionTimeoutMs: config.poolTimeoutMs };
}

export function createPool(url: string, max: number, applicationName = 'arogya', limits: PoolLimits = {}): pg.Pool {
  // JIT off: a search with long chains has a plan costly enough to be JIT-compiled, and LLVM then spent minutes
  // and gigabytes on it, deaf to cancellation and statement_timeout (found by the fuzzer); our statements are
  // index probes that JIT never speeds up.
  const pool = new pg.Pool({
    connectionString: url,
    max,
    types: textTypes,
    application_name: applicationName,
    statement_timeout: limits.statementTimeoutMs || undefined,
    connectionTimeoutMillis: limits.connectionTimeoutMs,
    options: '-c jit=off',
  });
  // An idle client's error (e.g. the server restarting) must not crash the process; the next query reconnects.
  pool.on('error', () => undefined);
  // Nor may a checked-out client's: a connection that dies while a transaction holds it (between two statements)
  // emits 'error' on the client, which nobody listens to outside a query. The holder learns of it from its next
  // statement, which fails; the pool discards the dead client when it is released.
  pool.on('connect', (client) => client.on('error', () => undefined));
  return pool;
}

/** Run `fn` in one transaction (`begin` may set its isolation level); rolls back on any error and rethrows it. */
export async function inTransaction<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>, begin = 'BEGIN'): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query(begin);
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (e) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw e;
  } finally {
    client.release();
  }
}
