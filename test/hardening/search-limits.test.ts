/**
 * Unbounded searches (issue 10 item 3): repeated parameters, criteria per search and OR values are bounded (400
 * naming the limit), while what real clients send still works.
 */
import { startServer, type TestServer } from '../harness';

let server: TestServer;
beforeAll(async () => {
  server = await startServer();
  await server.request('PUT', '/Patient/limits-1', { body: { resourceType: 'Patient', id: 'limits-1', name: [{ family: 'Limitsa' }] } });
});
afterAll(async () => server.close());

function expectTooCostly(res: { status: number; body: any }, limit: RegExp): void {
  expect(res.status).toBe(400);
  expect(res.body.resourceType).toBe('OperationOutcome');
  expect(res.body.issue[0].code).toBe('too-costly');
  expect(res.body.issue[0].diagnostics).toMatch(limit);
}

test('a parameter repeated 2,000 times, or 33 times, is refused at once, naming the limit', async () => {
  const repeat = (n: number): string => Array.from({ length: n }, (_, i) => `name=a${i}`).join('&');
  expectTooCostly(await server.request('GET', `/Patient?${repeat(2000)}`), /2000 parameters; the server's limit is 100/);
  expectTooCostly(await server.request('GET', `/Patient?${repeat(33)}`), /'name' is repeated more than the server's limit of 32 times/);
  // by POST as well
  const post = await server.request('POST', '/Patient/_search', {
    body: repeat(2000),
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
  });
  expectTooCostly(post, /limit is 100/);
});

test('too many parameters, or too many OR values in one, are refused', async () => {
  const many = Array.from({ length: 101 }, (_, i) => `given${i % 2 ? ':exact' : ''}=x${i}`)
    .map((p, i) => p.replace('given', ['given', 'family', 'name', 'address'][i % 4]))
    .join('&');
  expectTooCostly(await server.request('GET', `/Patient?${many}`), /101 parameters; the server's limit is 100/);
  const values = Array.from({ length: 1001 }, (_, i) => `x${i}`).join(',');
  expectTooCostly(await server.request('GET', `/Patient?identifier=${values}`), /'identifier' has 1001 values; the server's limit is 1000/);
  // conditional criteria are searches too
  const conditional = await server.request('POST', '/Patient', {
    body: { resourceType: 'Patient' },
    headers: { 'if-none-exist': Array.from({ length: 40 }, (_, i) => `name=a${i}`).join('&') },
  });
  expectTooCostly(conditional, /limit of 32 times/);
});

test('what real clients send is within the limits', async () => {
  const ids = Array.from({ length: 500 }, (_, i) => `urn:x|${i}`).join(',');
  expect((await server.request('GET', `/Patient?identifier=${encodeURIComponent(ids)}`)).status).toBe(200);
  const repeated = Array.from({ length: 32 }, () => 'name=Limitsa').join('&');
  const res = await server.request('GET', `/Patient?${repeated}&_count=5&_sort=name`);
  expect(res.status).toBe(200);
  expect(res.body.entry.map((e: { resource: { id: string } }) => e.resource.id)).toEqual(['limits-1']);
});
