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

/**
 * A wait for a connection cut short by the caller's own bound (`connect`'s maxWaitMs, e.g. what is left of a
 * request's deadline), not by the pool's limit. Its message is pg-pool's, so it is still a database failure
 * ('unavailable', errors.ts) to anyone who does not look for it.
 */
export class ConnectionWaitExceeded extends Error {
  constructor(readonly waitedMs: number) {
    super('timeout exceeded when trying to connect');
  }
}

type PoolOptions = { connectionTimeoutMillis?: number };

/**
 * A connection from `pool`, waiting for it at most `maxWaitMs` (ms, ≥ 1) and never longer than the pool's own
 * limit (connectionTimeoutMillis, AROGYA_POOL_TIMEOUT_MS). It is pg-pool's own timeout on acquisition, set for
 * this one call: pg-pool reads it synchronously in `connect` (the queued waiter's timer, or a new client's
 * connect timer), so nothing else sees the shorter value. A waiter that times out leaves pg-pool's queue, and a
 * connection that becomes free for it later goes back to the pool (pg-pool's `timedOut`): none is leaked. When
 * the caller's bound is the one that ran out, the error is a ConnectionWaitExceeded.
 */
export function connect(pool: pg.Pool, maxWaitMs?: number): Promise<pg.PoolClient> {
  if (maxWaitMs === undefined) return pool.connect();
  const options = (pool as unknown as { options: PoolOptions }).options;
  const own = options.connectionTimeoutMillis;
  const wait = Math.max(1, Math.ceil(maxWaitMs));
  const callerBound = !own || wait < own;
  if (!callerBound) return pool.connect();
  options.connectionTimeoutMillis = wait;
  let pending: Promise<pg.PoolClient>;
  try {
    pending = pool.connect();
  } finally {
    options.connectionTimeoutMillis = own;
  }
  return pending.catch((e: unknown) => {
    // a queued waiter's timeout, or a new client's connect cut short at the same bound
    const message = e instanceof Error ? e.message : '';
    if (/^(timeout exceeded when trying to connect|Connection terminated due to connection timeout)/.test(message)) {
      throw new ConnectionWaitExceeded(wait);
    }
    throw e;
  });
}

/**
 * Run `fn` in one transaction (`begin` may set its isolation level, or be a simple query of several statements
 * that starts with BEGIN: `fn` gets its result); rolls back on any error and rethrows it. `maxWaitMs` bounds the
 * wait for the connection (see `connect`).
 */
export async function inTransaction<T>(
  pool: pg.Pool,
  fn: (client: pg.PoolClient, begun: pg.QueryResult | pg.QueryResult[]) => Promise<T>,
  begin: string | ((client: pg.PoolClient) => string) = 'BEGIN',
  maxWaitMs?: number,
): Promise<T> {
  const client = await connect(pool, maxWaitMs);
  try {
    // (a simple query of several statements answers with one result per statement)
    const begun = (await client.query(typeof begin === 'string' ? begin : begin(client))) as pg.QueryResult | pg.QueryResult[];
    const result = await fn(client, begun);
    await client.query('COMMIT');
    return result;
  } catch (e) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw e;
  } finally {
    client.release();
  }
}
