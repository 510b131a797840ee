/**
 * server/database/pg-boss-delay.ts: pg-boss's internal delay is replaced, before pg-boss loads, by one that needs
 * no `require` when it is called (a call after a Jest test file's teardown used to fail the next file), and behaves
 * as pg-boss expects: resolves after `ms`, rejects with `error` when given one, resolves at once on `abort()`.
 */
import '../../server/database/pg-boss-delay';

type Delay = (ms: number, error?: string) => Promise<void> & { abort(): void };
const tools = require('pg-boss/src/tools') as { delay: Delay };
const workerModule = require('pg-boss/src/worker');

test('the replacement is in place for pg-boss and behaves like the original', async () => {
  expect(tools.delay.toString()).not.toContain('require');
  expect(workerModule).toBeDefined();
  const t0 = performance.now();
  await tools.delay(40);
  expect(performance.now() - t0).toBeGreaterThanOrEqual(35);
  await expect(tools.delay(5, 'handler execution exceeded 5ms')).rejects.toThrow('handler execution exceeded 5ms');
  const long = tools.delay(60_000, 'never');
  const t1 = performance.now();
  long.abort();
  await expect(long).resolves.toBeUndefined();
  expect(performance.now() - t1).toBeLessThan(1000);
});
