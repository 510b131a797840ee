/**
 * Ties the database connections a request holds to that request, so that when its client goes away the query
 * running for nobody is cancelled (and its connection handed back) instead of running on for minutes.
 *
 * The request's work runs inside an AsyncLocalStorage scope; the pool's `connect` (which `pool.query` uses too)
 * records each connection checked out inside a scope until it is released. When the client disconnects, every
 * connection still held is marked and its backend sent `pg_cancel_backend` from a separate, short-lived
 * connection (the pool may be exhausted: that is when this matters most). A marked connection is destroyed on
 * release rather than reused, so a cancel that arrives late can never hit another request's statement.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import pg from 'pg';

interface Scope {
  held: Set<pg.PoolClient>;
  gone: boolean;
}

const scopes = new AsyncLocalStorage<Scope>();
const doomed = new WeakSet<pg.PoolClient>();

type Connect = (cb?: (err: Error | undefined, client: pg.PoolClient | undefined, done: (release?: unknown) => void) => void) => unknown;

/** Makes `pool` record the connections checked out inside a request scope. */
export function trackRequestConnections(pool: pg.Pool): void {
  const connect = pool.connect.bind(pool) as Connect;
  const track = (scope: Scope, client: pg.PoolClient): void => {
    scope.held.add(client);
    const release = client.release.bind(client);
    client.release = (err?: Error | boolean) => {
      scope.held.delete(client);
      return release(doomed.has(client) ? true : err);
    };
  };
  (pool as unknown as { connect: Connect }).connect = (cb) => {
    const scope = scopes.getStore();
    if (!scope || scope.gone) return connect(cb);
    if (cb) {
      return connect((err, client) => {
        if (client) track(scope, client);
        cb(err, client, (r) => client?.release(r as Error));
      });
    }
    return (connect() as Promise<pg.PoolClient>).then((client) => {
      track(scope, client);
      return client;
    });
  };
}

async function cancelBackend(pool: pg.Pool, client: pg.PoolClient): Promise<void> {
  const pid = (client as unknown as { processID?: number }).processID;
  if (!pid) return;
  const canceller = new pg.Client({ ...pool.options, statement_timeout: 0 } as pg.ClientConfig);
  try {
    await canceller.connect();
    await canceller.query('SELECT pg_cancel_backend($1)', [pid]);
  } catch {
    // The database is unreachable: the query dies with it; nothing to do.
  } finally {
    await canceller.end().catch(() => undefined);
  }
}

/**
 * Runs `fn` (the rest of the request) in a scope; `onClientGone` is to be called when the client disconnects
 * before the response was sent.
 */
export function requestScope(pool: pg.Pool): { run<T>(fn: () => T): T; clientGone(): void } {
  const scope: Scope = { held: new Set(), gone: false };
  return {
    run: (fn) => scopes.run(scope, fn),
    clientGone() {
      scope.gone = true;
      for (const client of scope.held) {
        doomed.add(client);
        void cancelBackend(pool, client);
      }
    },
  };
}
