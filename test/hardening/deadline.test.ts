/**
 * The request deadline (issue 10: batch bundles of thousands of entries ran for minutes): a transaction that runs
 * into AROGYA_REQUEST_DEADLINE_MS rolls back entirely and answers 503 + Retry-After + OperationOutcome; a batch
 * answers the entries it finished as usual and each entry it had not finished 503 with an OperationOutcome,
 * nothing of those written. The tests stop the work deterministically — a deadline shorter than reading the body,
 * or a row lock that holds an entry's statement until the deadline cancels it — so they assert outcomes, not
 * timings (busy machine).
 */
import pg from 'pg';
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
