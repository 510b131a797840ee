/**
 * Group commit of plain creates (server/repository/write-engine.ts, coalesce.ts): concurrent creates of one process
 * leave in as few write statements as arrive while one runs — one statement in flight at a time — and each create
 * is answered with its own resource, with its own id and identifier.
 */
import { useServer } from '../harness';

const server = useServer();

test('concurrent creates share write statements, one in flight at a time, each answered with its own resource', async () => {
  let inFlight = 0;
  let maxInFlight = 0;
  let statements = 0;
  const pool = server.pool as unknown as { query: (...args: unknown[]) => unknown };
  const query = pool.query;
  pool.query = function (this: unknown, ...args: unknown[]) {
    const q = args[0] as { name?: string } | string;
    const result = query.apply(this, args);
    if (typeof q === 'object' && q.name?.startsWith('arogya_write')) {
      statements++;
      maxInFlight = Math.max(maxInFlight, ++inFlight);
      void Promise.resolve(result)
        .finally(() => inFlight--)
        .catch(() => undefined);
    }
    return result;
  };
  try {
    const n = 24;
    const results = await Promise.all(
      Array.from({ length: n }, (_, i) =>
        server.request('POST', '/Patient', {
          body: { resourceType: 'Patient', identifier: [{ system: 'https://healthid.abdm.gov.in', value: `91-2222-0000-${1000 + i}` }] },
        }),
      ),
    );
    expect(results.map((r) => r.status)).toEqual(Array(n).fill(201));
    expect(new Set(results.map((r) => r.body.id)).size).toBe(n);
    expect(results.map((r) => r.body.identifier[0].value)).toEqual(results.map((_, i) => `91-2222-0000-${1000 + i}`));
    expect(maxInFlight).toBe(1);
    expect(statements).toBeGreaterThan(0);
    expect(statements).toBeLessThan(n);
  } finally {
    pool.query = query;
  }
});
