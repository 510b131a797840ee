/**
 * The request deadline (issue 10: batch bundles of thousands of entries ran for minutes): a transaction that runs
 * into AROGYA_REQUEST_DEADLINE_MS rolls back entirely and answers 503 + Retry-After + OperationOutcome; a batch
 * answers the entries it finished as usual and each entry it had not finished 503 with an OperationOutcome,
 * nothing of those written. The tests stop the work deterministically — a deadline shorter than reading the body,
 * a row lock that holds an entry's statement until the deadline cancels it, a pool whose one connection is held
 * (the wait for a connection ends by the deadline), or one entry's step held past it — so they assert outcomes,
 * not timings (busy machine).
 */
import pg from 'pg';
import { Repository } from '../../server/repository/repository';
import { startServer, type FhirResponse, type TestServer } from '../harness';

const patient = (family: string, i: number): unknown => ({
  resource: { resourceType: 'Patient', name: [{ family }], identifier: [{ system: 'urn:deadline', value: `${family}-${i}` }] },
  request: { method: 'POST', url: 'Patient' },
});

function expectDeadline(res: FhirResponse): void {
  expect(res.status).toBe(503);
  expect(res.headers.get('retry-after')).toMatch(/^\d+$/);
  expect(res.body.resourceType).toBe('OperationOutcome');
  expect(res.body.issue[0].code).toBe('timeout');
  expect(res.body.issue[0].diagnostics).toMatch(/AROGYA_REQUEST_DEADLINE_MS/);
}

async function count(server: TestServer, family: string): Promise<number> {
  const res = await server.request('GET', `/Patient?family:exact=${family}&_summary=count`);
  expect(res.status).toBe(200);
  return res.body.total;
}

/** A session holding a row lock on a resource until released: a write to it waits (and so its whole plan). */
async function lockRow(databaseUrl: string, type: string, id: string): Promise<{ release(): Promise<void> }> {
  const locker = new pg.Client({ connectionString: databaseUrl });
  await locker.connect();
  await locker.query('BEGIN');
  const { rowCount } = await locker.query('SELECT 1 FROM resource WHERE resource_type = $1 AND id = $2 FOR UPDATE', [type, id]);
  expect(rowCount).toBe(1);
  return {
    async release() {
      await locker.query('COMMIT');
      await locker.end();
    },
  };
}

describe('a deadline already past when the work starts', () => {
  let server: TestServer;
  beforeAll(async () => {
    // 1 ms: reading and parsing the body alone take longer, so the plan meets the deadline at its first check
    server = await startServer({ requestDeadlineMs: 1 });
  });
  afterAll(async () => server.close());

  test('a transaction answers 503 with Retry-After and writes nothing', async () => {
    const entry = Array.from({ length: 300 }, (_, i) => patient('Pastdue', i));
    const res = await server.request('POST', '', { body: { resourceType: 'Bundle', type: 'transaction', entry } });
    expectDeadline(res);
    expect(res.body.issue[0].diagnostics).toMatch(/rolled back: nothing of it was written/);
    expect(await count(server, 'Pastdue')).toBe(0);
  });

  test('a batch answers 200 with every unprocessed entry 503 and an OperationOutcome, GET entries included', async () => {
    const entry = [...Array.from({ length: 300 }, (_, i) => patient('Pastbatch', i)), { request: { method: 'GET', url: 'Patient?family=x' } }];
    const res = await server.request('POST', '', { body: { resourceType: 'Bundle', type: 'batch', entry } });
    expect(res.status).toBe(200);
    expect(res.body.type).toBe('batch-response');
    expect(res.body.entry).toHaveLength(301);
    for (const e of res.body.entry) {
      expect(e.response.status).toBe('503 Service Unavailable');
      expect(e.response.outcome.issue[0]).toMatchObject({ severity: 'error', code: 'timeout' });
      expect(e.response.outcome.issue[0].diagnostics).toMatch(/not processed .*AROGYA_REQUEST_DEADLINE_MS/);
    }
    expect(await count(server, 'Pastbatch')).toBe(0);
  });

  test('single requests are not bound by it', async () => {
    expect((await server.request('POST', '/Patient', { body: { resourceType: 'Patient', name: [{ family: 'Single' }] } })).status).toBe(201);
  });
});

describe('a deadline reached in the middle of the work', () => {
  let server: TestServer;
  beforeAll(async () => {
    // long enough for a pass of 500 small creates on a busy machine; the locked entry then waits for it
    server = await startServer({ requestDeadlineMs: 8000 });
    const res = await server.request('PUT', '/Patient/held', { body: { resourceType: 'Patient', id: 'held', name: [{ family: 'Held' }] } });
    expect(res.status).toBe(201);
  });
  afterAll(async () => server.close());

  const update = {
    resource: { resourceType: 'Patient', id: 'held', name: [{ family: 'Changed' }] },
    request: { method: 'PUT', url: 'Patient/held' },
  };

  test('a transaction waiting on a lock is cancelled at the deadline and rolled back entirely', async () => {
    const lock = await lockRow(server.databaseUrl, 'Patient', 'held');
    try {
      const entry = [...Array.from({ length: 20 }, (_, i) => patient('Midway', i)), update];
      const res = await server.request('POST', '', { body: { resourceType: 'Bundle', type: 'transaction', entry } });
      expectDeadline(res);
      expect(res.text).not.toMatch(/57014|canceling statement/);
    } finally {
      await lock.release();
    }
    expect(await count(server, 'Midway')).toBe(0);
    expect((await server.request('GET', '/Patient/held')).body.meta.versionId).toBe('1');
  });

  test('a batch keeps its finished pass and answers the rest 503, none of it half-written', async () => {
    const lock = await lockRow(server.databaseUrl, 'Patient', 'held');
    let res: FhirResponse;
    try {
      // POSTs go first (DELETE, POST, PUT order) and fill the first pass of 500; the PUT of the locked row is in
      // the second, with the GET entry after the writes.
      const entry = [update, ...Array.from({ length: 500 }, (_, i) => patient('Partly', i)), { request: { method: 'GET', url: 'Patient/held' } }];
      res = await server.request('POST', '', { body: { resourceType: 'Bundle', type: 'batch', entry } });
    } finally {
      await lock.release();
    }
    expect(res.status).toBe(200);
    const statuses = res.body.entry.map((e: { response: { status: string } }) => e.response.status);
    expect(statuses[0]).toBe('503 Service Unavailable');
    expect(res.body.entry[0].response.outcome.issue[0].code).toBe('timeout');
    expect(statuses.slice(1, 501).every((s: string) => s.startsWith('201'))).toBe(true);
    expect(statuses[501]).toBe('503 Service Unavailable');
    expect(await count(server, 'Partly')).toBe(500);
    const held = await server.request('GET', '/Patient/held');
    expect(held.body.meta.versionId).toBe('1');
    expect(held.body.name[0].family).toBe('Held');
  });

  test("a batch's GET entry waiting on a lock is cut at the deadline: that entry 503, the batch answered", async () => {
    const locker = new pg.Client({ connectionString: server.databaseUrl });
    await locker.connect();
    await locker.query('BEGIN');
    await locker.query('LOCK TABLE resource IN ACCESS EXCLUSIVE MODE');
    let res: FhirResponse;
    try {
      res = await server.request('POST', '', {
        body: { resourceType: 'Bundle', type: 'batch', entry: [{ request: { method: 'GET', url: 'Patient/held' } }] },
      });
    } finally {
      await locker.query('COMMIT');
      await locker.end();
    }
    expect(res.status).toBe(200);
    expect(res.body.entry[0].response.status).toBe('503 Service Unavailable');
    expect(res.body.entry[0].response.outcome.issue[0]).toMatchObject({ code: 'timeout' });
    expect(res.body.entry[0].response.outcome.issue[0].diagnostics).toMatch(/AROGYA_REQUEST_DEADLINE_MS/);
  });
});

/** Works (busy, as a huge entry's synchronous work does) for `ms`: the event loop is held meanwhile. */
function burn(ms: number): void {
  const t0 = Date.now();
  while (Date.now() - t0 < ms) {
    // as parsing, validating or indexing one multi-MB entry does
  }
}

/**
 * The pool gets all its connections back, idle, with nobody waiting: none was leaked by a wait that gave up. (The
 * server's own work after a response, its audit trail, may hold the connection a moment: waited for, boundedly.)
 */
async function expectPoolWhole(pool: pg.Pool, size: number): Promise<void> {
  const whole = (): boolean => pool.waitingCount === 0 && pool.idleCount === pool.totalCount;
  for (let i = 0; i < 200 && !whole(); i++) await new Promise((resolve) => setTimeout(resolve, 50));
  expect(pool.waitingCount).toBe(0);
  expect(pool.totalCount).toBeLessThanOrEqual(size);
  expect(pool.idleCount).toBe(pool.totalCount);
}

describe('a deadline reached while waiting for a pool connection (the fuzzer: a batch waited past it and hung)', () => {
  let server: TestServer;
  const DEADLINE_MS = 3000;
  beforeAll(async () => {
    // one connection, and the pool's own acquisition timeout (30 s) far longer than the deadline: the deadline binds
    server = await startServer({ requestDeadlineMs: DEADLINE_MS, poolSize: 1, poolTimeoutMs: 30_000 });
    // warm up (the access token, the caches) while the connection is free
    expect(await count(server, 'Waiting')).toBe(0);
  });
  afterAll(async () => server.close());

  /** Holds the pool's one connection while `fn` runs (another request's work, as far as the pool knows). */
  async function whileHeld<T>(fn: () => Promise<T>): Promise<T> {
    const held = await server.pool.connect();
    try {
      return await fn();
    } finally {
      held.release();
    }
  }

  test('a transaction answers 503 with Retry-After at the deadline, not after the pool timeout, and writes nothing', async () => {
    const entry = Array.from({ length: 5 }, (_, i) => patient('Waiting', i));
    const res = await whileHeld(() => server.request('POST', '', { body: { resourceType: 'Bundle', type: 'transaction', entry } }));
    expectDeadline(res);
    expect(res.body.issue[0].diagnostics).toMatch(/rolled back: nothing of it was written/);
    expect(res.text).not.toMatch(/timeout exceeded when trying to connect/);
    expect(await count(server, 'Waiting')).toBe(0);
    await expectPoolWhole(server.pool, 1);
  });

  test('a batch answers 200, every entry (writes and reads) 503 with an OperationOutcome', async () => {
    const entry = [...Array.from({ length: 5 }, (_, i) => patient('Waiting', i)), { request: { method: 'GET', url: 'Patient?family=x' } }];
    const res = await whileHeld(() => server.request('POST', '', { body: { resourceType: 'Bundle', type: 'batch', entry } }));
    expect(res.status).toBe(200);
    expect(res.body.type).toBe('batch-response');
    expect(res.body.entry).toHaveLength(6);
    for (const e of res.body.entry) {
      expect(e.response.status).toBe('503 Service Unavailable');
      expect(e.response.outcome.resourceType).toBe('OperationOutcome');
      expect(e.response.outcome.issue[0]).toMatchObject({ severity: 'error', code: 'timeout' });
      expect(e.response.outcome.issue[0].diagnostics).toMatch(/not processed .*AROGYA_REQUEST_DEADLINE_MS/);
    }
    expect(await count(server, 'Waiting')).toBe(0);
    await expectPoolWhole(server.pool, 1);
  });

  test("a batch's GET entry waiting for the connection is answered 503 at the deadline", async () => {
    const res = await whileHeld(() =>
      server.request('POST', '', {
        body: { resourceType: 'Bundle', type: 'batch', entry: [{ request: { method: 'GET', url: 'Patient?family=x' } }] },
      }),
    );
    expect(res.status).toBe(200);
    expect(res.body.entry[0].response.status).toBe('503 Service Unavailable');
    expect(res.body.entry[0].response.outcome.issue[0]).toMatchObject({ code: 'timeout' });
    await expectPoolWhole(server.pool, 1);
  });

  test('the connection freed after the bundles gave up goes back to the pool: the next bundle is served', async () => {
    const entry = Array.from({ length: 3 }, (_, i) => patient('Served', i));
    const res = await server.request('POST', '', { body: { resourceType: 'Bundle', type: 'transaction', entry } });
    expect(res.status).toBe(200);
    expect(res.body.entry.every((e: { response: { status: string } }) => e.response.status.startsWith('201'))).toBe(true);
    expect(await count(server, 'Served')).toBe(3);
    await expectPoolWhole(server.pool, 1);
  });
});

describe("one entry's synchronous work running past the deadline", () => {
  let server: TestServer;
  const DEADLINE_MS = 3000;
  beforeAll(async () => {
    server = await startServer({ requestDeadlineMs: DEADLINE_MS });
  });
  afterAll(async () => {
    jest.restoreAllMocks();
    await server.close();
  });

  test('stops the plan at its next step (serialisation before extraction): a batch answers every entry 503', async () => {
    const original = Repository.prototype.planVersion;
    const steps: string[] = [];
    // The first step of the 'Huge' entry's version planning takes until past the deadline (as serialising or
    // indexing a multi-MB entry can); the plan must stop at the next check, inside the same entry's work.
    type PlanVersion = Repository['planVersion'];
    jest.spyOn(Repository.prototype, 'planVersion').mockImplementation(function (
      this: Repository,
      ...[v, resource, links, step]: Parameters<PlanVersion>
    ) {
      const huge = (resource?.name as { family?: string }[] | undefined)?.[0]?.family === 'Huge';
      const wrapped =
        huge && step
          ? () => {
              steps.push('step');
              if (steps.length === 1) burn(DEADLINE_MS + 100);
              step();
            }
          : step;
      const out = original.call(this, v, resource, links, wrapped);
      if (huge) steps.push('planned');
      return out;
    });
    try {
      const entry = [patient('Huge', 0), ...Array.from({ length: 3 }, (_, i) => patient('Afterhuge', i))];
      const res = await server.request('POST', '', { body: { resourceType: 'Bundle', type: 'batch', entry } });
      expect(res.status).toBe(200);
      for (const e of res.body.entry) {
        expect(e.response.status).toBe('503 Service Unavailable');
        expect(e.response.outcome.issue[0]).toMatchObject({ code: 'timeout' });
      }
      // the entry's planning stopped at a step: it was never completed
      expect(steps[0]).toBe('step');
      expect(steps).not.toContain('planned');
    } finally {
      jest.restoreAllMocks();
    }
    expect((await server.request('GET', '/Patient?family:exact=Huge&_summary=count')).body.total).toBe(0);
    expect(await count(server, 'Afterhuge')).toBe(0);
  });
});
