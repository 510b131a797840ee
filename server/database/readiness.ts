/**
 * Readiness (`GET /readyz`): can this process serve requests now? Answered within its own short limit whatever
 * the database does: not ready when no connection is free in time (the pool is exhausted), the database is
 * unreachable, a read of the resource table stalls (a table lock, an overloaded server), or migrations are pending.
 */
import type { Pool, PoolClient } from './pool';
import { migrationsCurrent } from './migrate';

export type Readiness = 'ready' | 'no free database connection' | 'database unreachable' | 'database too slow' | 'migrations pending';

const TIMEOUT = Symbol('timeout');

function within<T>(p: Promise<T>, ms: number): Promise<T | typeof TIMEOUT> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<typeof TIMEOUT>((resolve) => (timer = setTimeout(() => resolve(TIMEOUT), ms)));
  return Promise.race([p, deadline]).finally(() => clearTimeout(timer));
}

export async function readiness(pool: Pool, timeoutMs: number): Promise<Readiness> {
  const started = Date.now();
  const connecting = pool.connect();
  const noConnection = (): Readiness =>
    pool.totalCount >= (pool.options.max ?? 10) && pool.idleCount === 0 ? 'no free database connection' : 'database unreachable';
  let client: PoolClient | typeof TIMEOUT;
  try {
    client = await within(connecting, timeoutMs);
  } catch {
    return noConnection(); // refused, or the pool's own wait limit
  }
  if (client === TIMEOUT) {
    connecting.then(
      (c) => c.release(),
      () => undefined,
    );
    return noConnection();
  }
  let healthy = false;
  try {
    // The statement limit is the server's own (the probe's SET is undone by the implicit transaction if it fails).
    const left = Math.max(1, timeoutMs - (Date.now() - started));
    const probe = within(client.query(`SET statement_timeout = ${left}; SELECT 1 FROM resource LIMIT 1; RESET statement_timeout`), left + 500);
    if ((await probe) === TIMEOUT) return 'database too slow';
    const current = await within(migrationsCurrent(client), timeoutMs);
    if (current === TIMEOUT) return 'database too slow';
    healthy = true;
    return current ? 'ready' : 'migrations pending';
  } catch (e) {
    return (e as { code?: string }).code === '57014' ? 'database too slow' : 'database unreachable';
  } finally {
    // A connection whose probe failed or hung may be in any state: dropped, not reused.
    client.release(!healthy);
  }
}
