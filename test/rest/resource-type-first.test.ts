/**
 * `resourceType` is the first key of every resource the server returns (json.html#resources), although the stored
 * jsonb text prints keys shortest first. Checked on the raw response text of each interaction that returns
 * stored resources: writes, read, vread, _summary/_elements/_pretty, search, history, batch/transaction responses,
 * $everything and bulk export NDJSON.
 */
import type { TestServer } from '../harness';
import { runExport, startBulkServer } from '../bulk/helpers';

let server: TestServer;
let patient: string;
let observation: string;

/** A Patient whose short keys (id, meta, name, gender, …) jsonb would print before resourceType. */
const PATIENT = {
  resourceType: 'Patient',
  identifier: [{ system: 'https://hospital.example/mrn', value: '91-4444-5555-6666' }],
  active: true,
  name: [{ family: 'Iyer', given: ['Lakshmi', 'Devi'] }],
  telecom: [{ system: 'phone', value: '+91 98450 12345', use: 'mobile' }],
  gender: 'female',
  birthDate: '1971-09-14',
  address: [{ line: ['12 MG Road'], city: 'Bengaluru', state: 'Karnataka', postalCode: '560001', country: 'IN' }],
  contact: [{ name: { text: 'Ravi Iyer' }, telecom: [{ system: 'phone', value: '+91 98450 54321' }] }],
};

/** The first key of a JSON object text (a resource or a Bundle's resource). */
function firstKey(text: string): string | undefined {
  return /^\s*\{\s*"([^"]*)"/.exec(text)?.[1];
}

/** Every `"resource":{…` inside a Bundle text starts with resourceType. */
function entryResourcesFirstKeys(text: string): string[] {
  return [...text.matchAll(/"resource":\s*\{\s*"([^"]*)"/g)].map((m) => m[1]);
}

beforeAll(async () => {
  server = await startBulkServer();
  const created = await server.request('POST', '/Patient', { body: PATIENT });
  expect(created.status).toBe(201);
  expect(firstKey(created.text)).toBe('resourceType');
  patient = created.body.id;
  // A text body, so the decimal 72.50 keeps its trailing zero on the way in.
  const obs = await server.request('POST', '/Observation', {
    body: `{"resourceType":"Observation","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"8867-4"}]},"subject":{"reference":"Patient/${patient}"},"valueQuantity":{"value":72.50,"unit":"beats/minute"}}`,
  });
  expect(obs.status).toBe(201);
  observation = obs.body.id;
  const updated = await server.request('PUT', `/Patient/${patient}`, { body: { ...PATIENT, id: patient, active: false } });
  expect(firstKey(updated.text)).toBe('resourceType');
});
afterAll(async () => server?.close());

test('jsonb really prints resourceType elsewhere (so the tests below test something)', async () => {
  const { rows } = await server.pool.query<{ content: string }>('SELECT $1::jsonb AS content', [JSON.stringify(PATIENT)]);
  expect(firstKey(rows[0].content)).not.toBe('resourceType');
});

test('read, vread, _summary, _elements and _pretty', async () => {
  for (const path of [
    `/Patient/${patient}`,
    `/Patient/${patient}/_history/1`,
    `/Patient/${patient}?_summary=true`,
    `/Patient/${patient}?_elements=name`,
    `/Patient/${patient}?_pretty=true`,
    `/Observation/${observation}`,
  ]) {
    const res = await server.request('GET', path);
    expect([path, res.status, firstKey(res.text)]).toEqual([path, 200, 'resourceType']);
  }
  expect((await server.request('GET', `/Observation/${observation}`)).text).toContain('72.50');
});

test('search, compartment search and history entries', async () => {
  for (const path of [
    '/Patient?family=Iyer',
    '/Patient?family=Iyer&_summary=true',
    `/Patient/${patient}/Observation`,
    `/Observation?subject=Patient/${patient}&_include=Observation:subject`,
    `/Patient/${patient}/_history`,
    '/Patient/_history',
    '/_history',
  ]) {
    const res = await server.request('GET', path);
    const keys = entryResourcesFirstKeys(res.text);
    expect([path, res.status, keys.length > 0]).toEqual([path, 200, true]);
    expect([path, keys.filter((k) => k !== 'resourceType')]).toEqual([path, []]);
  }
});

test('batch and transaction responses: written and read entries', async () => {
  const res = await server.request('POST', '/', {
    headers: { prefer: 'return=representation' },
    body: {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        {
          fullUrl: 'urn:uuid:4f3c2a84-6e0e-4d7b-9a40-6a0a1d3b2c11',
          resource: { ...PATIENT, gender: 'other' },
          request: { method: 'POST', url: 'Patient' },
        },
        { request: { method: 'GET', url: `Patient/${patient}` } },
        { request: { method: 'GET', url: 'Patient?family=Iyer' } },
      ],
    },
  });
  expect(res.status).toBe(200);
  const keys = entryResourcesFirstKeys(res.text);
  // the created Patient, the read, the searchset and its two matches (a transaction's GET sees its own POST)
  expect(keys.length).toBe(5);
  expect(keys.every((k) => k === 'resourceType')).toBe(true);
});

test('$everything', async () => {
  const res = await server.request('GET', `/Patient/${patient}/$everything`);
  const keys = entryResourcesFirstKeys(res.text);
  expect(keys.length).toBe(2);
  expect(keys.every((k) => k === 'resourceType')).toBe(true);
});

test('bulk export NDJSON lines', async () => {
  const manifest = await runExport(server, '/$export?_type=Patient,Observation');
  const lines: string[] = [];
  for (const o of manifest.output as { url: string }[]) lines.push(...(await server.request('GET', o.url)).text.split('\n').filter(Boolean));
  expect(lines.length).toBe(3);
  expect(lines.map(firstKey)).toEqual(['resourceType', 'resourceType', 'resourceType']);
});
