/**
 * Fidelity: a resource reads back exactly as written. Decimals keep their lexical form (235.40 stays 235.40,
 * 66.899999999999991 stays as written) through create, read, vread, history, search, _pretty and PATCH.
 */
import { useServer } from '../harness';

const server = useServer();

const body = `{"resourceType":"Observation","status":"final","code":{"text":"Serum sodium"},
  "valueQuantity":{"value":235.40,"unit":"mmol/L","system":"http://unitsofmeasure.org","code":"mmol/L"},
  "component":[{"code":{"text":"a"},"valueQuantity":{"value":66.899999999999991}},{"code":{"text":"b"},"valueQuantity":{"value":1.000000000000000000001}},
               {"code":{"text":"d"},"valueInteger":2147483647}]}`;

const DECIMALS = ['"value": 235.40', '"value": 66.899999999999991', '"value": 1.000000000000000000001', '"valueInteger": 2147483647'];

function expectDecimals(text: string): void {
  const normalised = text.replace(/":\s*/g, '": ');
  for (const d of DECIMALS) expect(normalised).toContain(d);
}

test('decimals keep their precision through every read path', async () => {
  const created = await server.request('POST', '/Observation', { body });
  expect(created.status).toBe(201);
  expectDecimals(created.text);
  const id = created.body.id;
  expectDecimals((await server.request('GET', `/Observation/${id}`)).text);
  expectDecimals((await server.request('GET', `/Observation/${id}?_pretty=true`)).text);
  expectDecimals((await server.request('GET', `/Observation/${id}/_history/1`)).text);
  expectDecimals((await server.request('GET', `/Observation/${id}/_history`)).text);
  expectDecimals((await server.request('GET', `/Observation?_id=${id}`)).text);
  const patched = await server.request('PATCH', `/Observation/${id}`, {
    body: [{ op: 'replace', path: '/status', value: 'amended' }],
    headers: { 'content-type': 'application/json-patch+json' },
  });
  expect(patched.status).toBe(200);
  expectDecimals(patched.text);
});

test('changing only the precision of a decimal is a real change (new version)', async () => {
  const created = await server.request('POST', '/Observation', { body });
  const text = created.text.replace(/"value":\s*235\.40/, '"value": 235.4');
  const updated = await server.request('PUT', `/Observation/${created.body.id}`, { body: text });
  expect(updated.status).toBe(200);
  expect(updated.body.meta.versionId).toBe('2');
  const same = await server.request('PUT', `/Observation/${created.body.id}`, { body: updated.text });
  expect(same.body.meta.versionId).toBe('2');
});
