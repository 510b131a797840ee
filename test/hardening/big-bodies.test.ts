/**
 * Big bodies (issue 10 item 5): bounded work per request — JSON values and nesting per body, entries per Bundle —
 * with 400s naming the limit, and a big bundle's validation yielding so that `/healthz` is answered meanwhile.
 */
import { loadConfig } from '../../server/config';
import { startServer, type TestServer } from '../harness';

let server: TestServer;
beforeAll(async () => {
  server = await startServer({ maxBodyElements: 5000, maxBundleEntries: 50 });
});
afterAll(async () => server.close());

test('a body with more JSON values than the limit is refused, naming it', async () => {
  const names = Array.from({ length: 4000 }, (_, i) => ({ family: `F${i}` }));
  const res = await server.request('POST', '/Patient', { body: { resourceType: 'Patient', name: names } });
  expect(res.status).toBe(400);
  expect(res.body.issue[0]).toMatchObject({ code: 'too-long' });
  expect(res.body.issue[0].diagnostics).toMatch(/limit of 5000 JSON elements \(AROGYA_MAX_BODY_ELEMENTS\)/);
  expect((await server.request('POST', '/Patient', { body: { resourceType: 'Patient', name: names.slice(0, 100) } })).status).toBe(201);
});

test('a Bundle with more entries than AROGYA_MAX_BUNDLE_ENTRIES is refused; the default takes Synthea infrastructure batches', async () => {
  const entry = { resource: { resourceType: 'Basic', code: { text: 'x' } }, request: { method: 'POST', url: 'Basic' } };
  for (const type of ['transaction', 'batch']) {
    const res = await server.request('POST', '', { body: { resourceType: 'Bundle', type, entry: Array.from({ length: 51 }, () => entry) } });
    expect(res.status).toBe(400);
    expect(res.body.issue[0]).toMatchObject({ code: 'too-costly', expression: ['Bundle.entry'] });
    expect(res.body.issue[0].diagnostics).toMatch(/51 entries; the server's limit is 50 \(AROGYA_MAX_BUNDLE_ENTRIES\)/);
  }
  expect(
    (await server.request('POST', '', { body: { resourceType: 'Bundle', type: 'batch', entry: Array.from({ length: 50 }, () => entry) } })).status,
  ).toBe(200);
  // the largest Synthea infrastructure batch has 2,382 entries (test/bundles/synthea.test.ts loads it with the defaults)
  expect(loadConfig({}).maxBundleEntries).toBeGreaterThanOrEqual(2382);
});

describe('a big bundle in flight', () => {
  let big: TestServer;
  beforeAll(async () => {
    big = await startServer();
  });
  afterAll(async () => big.close());

  test('/healthz is answered throughout, not only after the bundle', async () => {
    const n = 3000;
    const bundle = {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: Array.from({ length: n }, (_, i) => ({
        resource: {
          resourceType: 'Patient',
          name: [{ family: `Bulky${i}`, given: ['A', 'B'] }],
          gender: 'female',
          birthDate: '1970-01-01',
          identifier: [{ system: 'urn:bulky', value: `v${i}` }],
        },
        request: { method: 'POST', url: 'Patient' },
      })),
    };
    const started = Date.now();
    let done = false;
    const pending = big.request('POST', '', { body: bundle }).finally(() => (done = true));
    const health = big.base.replace(/\/fhir$/, '/healthz');
    let longest = 0;
    let answered = 0;
    while (!done) {
      const t = Date.now();
      const res = await fetch(health);
      expect(res.status).toBe(200);
      longest = Math.max(longest, Date.now() - t);
      answered++;
    }
    const res = await pending;
    const total = Date.now() - started;
    expect(res.status).toBe(200);
    expect(res.body.entry).toHaveLength(n);
    // Without yielding, validating and extracting the 3,000 entries held the event loop for most of the request
    // (/healthz waited about half of it); now it is answered all along. A relative bound: robust on a busy machine.
    expect(answered).toBeGreaterThan(10);
    expect(longest).toBeLessThan(total * 0.3);
  });
});
