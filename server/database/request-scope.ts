/**
 * Ties the database connections a request's reads hold to that request, so that when its client goes away the
 * query running for nobody is cancelled (and its connection handed back) instead of running on for minutes.
 *
 * The scope travels with the request's Caller (repository/caller.ts `scope`): the read path runs a caller's
 * statements on `scope.db(pool)`, a view of the pool whose `connect` (which its `query` uses too) records each
 * connection checked out until it is released. When the client disconnects, every connection still held is
 * marked and its backend sent `pg_cancel_backend` from a separate, short-lived connection (the pool may be
 * exhausted: that is when this matters most). A marked connection is destroyed on release rather than reused, so
 * a cancel that arrives late can never hit another request's statement.
 *
 * Explicit rather than an AsyncLocalStorage: on Node 20 one AsyncLocalStorage in use turns on promise hooks for
 * every promise of the process, which cost a read by id about 8 % of its CPU (measured side by side). Work shared
 * by several requests — batched reads by id, group-committed creates — runs on the pool itself, in no request's
 * scope: one client going away must not cancel the others' statement.
 */
import pg, { DatabaseError } from 'pg';

/**
 * What a statement of a request whose client has gone meets instead of the database: the error a cancelled statement
 * raises (57014), so that it ends the request's work the same way (database/errors.ts: a 503 nobody receives).
 */
function clientGoneError(): DatabaseError {
  return Object.assign(new DatabaseError('canceling statement: the client went away', 0, 'error'), { code: '57014' });
}

const doomed = new WeakSet<pg.PoolClient>();

type ConnectCallback = (err: Error | undefined, client: pg.PoolClient | undefined, done: (release?: unknown) => void) => void;

/** A request's hold on database connections (see the module comment). */
export interface RequestScope {
  /** `pool` as this request's reads use it: connections it checks out are the request's until released. */
  db(pool: pg.Pool): pg.Pool;
  /** The client went away before its response was sent: cancel what is still running for it. */
  clientGone(): void;
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

/** A new request's scope. */
export function requestScope(): RequestScope {
  const held = new Map<pg.PoolClient, pg.Pool>();
  let gone = false;
  const views = new Map<pg.Pool, pg.Pool>();
  const track = (pool: pg.Pool, client: pg.PoolClient): void => {
    held.set(client, pool);
    const release = client.release.bind(client);
    client.release = (err?: Error | boolean) => {
      held.delete(client);
      client.release = release;
      return release(doomed.has(client) ? true : err);
    };
  };
  /**
   * A view of `pool` (its prototype is the pool: every other property is the pool's own) whose `connect` tracks
   * the connection; pg-pool's `query` checks out through `this.connect`, so queries on the view are tracked too.
   */
  const view = (pool: pg.Pool): pg.Pool => {
    const connect = pool.connect.bind(pool) as (cb?: ConnectCallback) => unknown;
    return Object.create(pool, {
      connect: {
        value: (cb?: ConnectCallback) => {
          // The client has left: no new statement starts for it (one in flight is cancelled by clientGone).
          if (gone) {
            if (!cb) return Promise.reject(clientGoneError());
            queueMicrotask(() => cb(clientGoneError(), undefined, () => undefined));
            return undefined;
          }
          if (cb) {
            return connect((err, client) => {
              // checked out while the client left: released and refused, as one checked out afterwards
              if (client && gone) {
                client.release();
                cb(clientGoneError(), undefined, () => undefined);
                return;
              }
              if (client) track(pool, client);
              cb(err, client, (r) => client?.release(r as Error));
            });
          }
          return (connect() as Promise<pg.PoolClient>).then((client) => {
            if (gone) {
              client.release();
              throw clientGoneError();
            }
            track(pool, client);
            return client;
          });
        },
      },
    }) as pg.Pool;
  };
  return {
    db(pool) {
      let v = views.get(pool);
      if (!v) views.set(pool, (v = view(pool)));
      return v;
    },
    clientGone() {
      gone = true;
      for (const [client, pool] of held) {
        doomed.add(client);
        void cancelBackend(pool, client);
      }
    },
  };
}
