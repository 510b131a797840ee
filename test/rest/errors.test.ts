/**
 * Bad input gets the right status and an OperationOutcome, never a 500 or a partial write: malformed JSON, wrong
 * content type, unknown type, invalid id, oversized body (413), wrong method (405), validation failures.
 */
import { useServer } from '../harness';

const server = useServer({ config: { bodyLimit: 64 * 1024 } });

async function expectOutcome(method: string, path: string, status: number, init?: { body?: unknown; headers?: Record<string, string> }) {
  const res = await server.request(method, path, init);
  expect({ method, path, status: res.status }).toEqual({ method, path, status });
  expect(res.body?.resourceType).toBe('OperationOutcome');
  expect(res.body.issue.length).toBeGreaterThan(0);
  expect(typeof res.body.issue[0].diagnostics).toBe('string');
  expect(res.headers.get('content-type')).toMatch(/^application\/fhir\+json/);
  return res;
}

test('malformed JSON → 400', async () => {
  const res = await expectOutcome('POST', '/Patient', 400, { body: '{"resourceType": "Patient", ' });
  expect(res.body.issue[0].diagnostics).toMatch(/Malformed JSON/);
  await expectOutcome('POST', '/Patient', 400, { body: '[1,2]' });
  await expectOutcome('POST', '/Patient', 400, { body: '"just a string"' });
  await expectOutcome('POST', '/Patient', 400, { body: '', headers: { 'content-type': 'application/fhir+json' } });
});

test('wrong or missing content type → 415', async () => {
  await expectOutcome('POST', '/Patient', 415, { body: '{"resourceType":"Patient"}', headers: { 'content-type': 'text/plain' } });
  await expectOutcome('PUT', '/Patient/x', 415, { body: 'gender=male', headers: { 'content-type': 'multipart/form-data; boundary=x' } });
});

test('unknown resource type → 404; abstract and logical types are not resource types', async () => {
  await expectOutcome('GET', '/Patientx/1', 404);
  await expectOutcome('GET', '/DomainResource/1', 404);
  await expectOutcome('POST', '/Resource', 404, { body: { resourceType: 'Resource' } });
  await expectOutcome('GET', '/Patientx', 404);
});

test('resourceType of the body must match the URL', async () => {
  const res = await expectOutcome('POST', '/Patient', 400, { body: { resourceType: 'Practitioner' } });
  expect(res.body.issue[0].expression).toEqual(['resourceType']);
  await expectOutcome('POST', '/Patient', 400, { body: { gender: 'male' } });
});

test('invalid ids → 400; unknown → 404', async () => {
  await expectOutcome('GET', `/Patient/${'x'.repeat(65)}`, 400);
  await expectOutcome('GET', '/Patient/has_underscore', 400);
  await expectOutcome('PUT', '/Patient/bad$id', 400, { body: { resourceType: 'Patient', id: 'bad$id' } });
  await expectOutcome('GET', '/Patient/no-such-patient', 404);
});

test('a body over the configured limit → 413', async () => {
  const big = { resourceType: 'Patient', name: [{ text: 'x'.repeat(70 * 1024) }] };
  const res = await expectOutcome('POST', '/Patient', 413, { body: big });
  expect(res.body.issue[0].code).toBe('too-long');
});

test('wrong HTTP method → 405 with Allow', async () => {
  const res = await expectOutcome('POST', '/Patient/123', 405, { body: { resourceType: 'Patient' } });
  expect(res.headers.get('allow')).toContain('PUT');
  const meta = await expectOutcome('DELETE', '/metadata', 405);
  expect(meta.headers.get('allow')).toBe('GET, HEAD');
  await expectOutcome('PUT', '/Patient/123/_history', 405, { body: {} });
});

test('unknown operations and endpoints → 404', async () => {
  await expectOutcome('POST', '/Patient/$bogus', 404, { body: { resourceType: 'Parameters' } });
  await expectOutcome('GET', '/Patient/1/_history/1/extra', 404);
});

test('invalid resources → 400 with the element path; nothing is written', async () => {
  const res = await expectOutcome('POST', '/Patient', 400, {
    body: { resourceType: 'Patient', gender: 'M', birthDate: '1984-13-45', unknownThing: true },
  });
  const expressions = res.body.issue.flatMap((i: { expression?: string[] }) => i.expression ?? []);
  expect(expressions).toEqual(expect.arrayContaining(['Patient.gender', 'Patient.birthDate', 'Patient.unknownThing']));
  const put = await expectOutcome('PUT', '/Patient/never-written', 400, { body: { resourceType: 'Patient', id: 'never-written', active: 'yes' } });
  expect(put.body.issue[0].expression).toEqual(['Patient.active']);
  await expectOutcome('GET', '/Patient/never-written', 404);
});

test('values too long to index → 400 naming the parameter; nothing is written; long strings are cut, not refused', async () => {
  const big = 'x'.repeat(3000);
  const cases: [string, Record<string, unknown>, string][] = [
    ['Patient', { resourceType: 'Patient', identifier: [{ system: 'urn:x', value: big }] }, 'identifier'],
    ['Patient', { resourceType: 'Patient', identifier: [{ system: `urn:${big}`, value: '1' }] }, 'identifier'],
    ['Observation', { resourceType: 'Observation', status: 'final', code: { coding: [{ system: 'urn:x', code: big }] } }, 'code'],
    ['ValueSet', { resourceType: 'ValueSet', status: 'draft', url: `http://example.org/${big}` }, 'url'],
    [
      'Observation',
      { resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: { reference: `http://other.example.org/${big}` } },
      'subject',
    ],
  ];
  for (const [type, body, param] of cases) {
    const res = await expectOutcome('POST', `/${type}`, 400, { body });
    expect(res.body.issue[0].diagnostics).toContain(`'${param}'`);
    // a batch of the same in a transaction: refused whole, nothing written
    const tx = await server.request('POST', '/', {
      body: { resourceType: 'Bundle', type: 'transaction', entry: [{ resource: body, request: { method: 'POST', url: type } }] },
    });
    expect(tx.status).toBe(400);
  }
  expect((await server.request('GET', '/Observation?_summary=count')).body.total).toBe(0);
  expect((await server.request('GET', '/ValueSet?_summary=count')).body.total).toBe(0);
  // a multi-byte value: 300 characters, 1,200 bytes
  await expectOutcome('POST', '/Patient', 400, { body: { resourceType: 'Patient', identifier: [{ system: 'urn:x', value: '𝔸'.repeat(300) }] } });
  // strings (names, addresses) are indexed by their first characters instead
  const name = await server.request('POST', '/Patient', { body: { resourceType: 'Patient', name: [{ family: big }] } });
  expect(name.status).toBe(201);
  expect((await server.request('GET', `/Patient?family=${'x'.repeat(100)}`)).body.entry.length).toBe(1);
});

test('hostile input never yields a 500', async () => {
  const cases: [string, string, unknown?][] = [
    ['GET', "/Patient?_id=1'%3B%20drop%20table%20resource%3B--"],
    ['GET', '/Patient?identifier=%00'],
    ['GET', '/Patient/_history?_since=not-a-date'],
    ['GET', '/Patient/_history?_count=-1'],
    ['GET', '/_history?_cursor=%%%'],
    ['POST', '/Patient', '{"resourceType":"Patient","name":[{"text":"\\u0000"}]}'],
    ['POST', '/Patient', '{"resourceType":"Patient","birthDate":{"$ne":null}}'],
    ['POST', '/Patient', `{"resourceType":"Patient","extension":${'['.repeat(5000)}${']'.repeat(5000)}}`],
    ['PATCH', '/Patient/x', '[{"op":"replace","path":"/gender","value":"male"}]'],
  ];
  for (const [method, path, body] of cases) {
    const res = await server.request(
      method,
      path,
      body === undefined
        ? undefined
        : { body, headers: { 'content-type': method === 'PATCH' ? 'application/json-patch+json' : 'application/fhir+json' } },
    );
    expect({ method, path, status: res.status < 500 }).toEqual({ method, path, status: true });
    expect(res.body?.resourceType).toBe(res.status < 300 ? 'Bundle' : 'OperationOutcome');
  }
});
