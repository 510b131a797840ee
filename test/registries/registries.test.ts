/**
 * National registries (server/fhir/registries.ts, the claim step of repository/bundle-plan.ts): one Patient per
 * NHID, one Organization per HFR id, one Practitioner per HPR id — alias- and format-aware, race-free under
 * concurrent writes, 409 naming the holder; claims follow updates and deletes; AROGYA_UNIQUE_IDENTIFIERS changes the
 * list. And the registry queries of HMS-DOMAIN.md §3.3 find a patient by any form of its NHID.
 */
import { parseUniqueIdentifiers } from '../../server/fhir/registries';
import { startServer, type Json, type TestServer } from '../harness';

const NHID = 'https://healthid.abdm.gov.in';
const NHID_LEGACY = 'https://healthid.ndhm.gov.in';
const HFR = 'https://facility.abdm.gov.in';
const HPR = 'https://hpr.abdm.gov.in';

let server: TestServer;
beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => server?.close());

let serial = 0;
/** A fresh 14-digit number for each test (tests share one database). */
function fresh(): string {
  serial += 1;
  return `9100000000${String(4000 + serial).padStart(4, '0')}`;
}
const hyphenated = (n: string) => `${n.slice(0, 2)}-${n.slice(2, 6)}-${n.slice(6, 10)}-${n.slice(10)}`;

function patient(system: string, value: string, name = 'Ravi Kumar'): Json {
  return {
    resourceType: 'Patient',
    identifier: [
      {
        type: { coding: [{ system: 'https://nrces.in/ndhm/fhir/r4/CodeSystem/ndhm-identifier-type-code', code: 'HIN' }] },
        system,
        value,
      },
    ],
    name: [{ text: name }],
    gender: 'male',
    birthDate: '1984-02-29',
  };
}

function expectDuplicate(r: { status: number; body: Json }, holder: string): void {
  expect(r.status).toBe(409);
  expect(r.body.resourceType).toBe('OperationOutcome');
  const [issue] = r.body.issue as Json[];
  expect(issue).toMatchObject({ severity: 'error', code: 'duplicate' });
  expect(issue.diagnostics).toContain(holder);
}

test('one Patient per NHID: the same number in another form or under the legacy system is refused with 409 naming the holder', async () => {
  const n = fresh();
  const first = await server.request('POST', '/Patient', { body: patient(NHID, n) });
  expect(first.status).toBe(201);
  const holder = `Patient/${first.body.id}`;
  expectDuplicate(await server.request('POST', '/Patient', { body: patient(NHID, n, 'Someone Else') }), holder);
  expectDuplicate(await server.request('POST', '/Patient', { body: patient(NHID, hyphenated(n)) }), holder);
  expectDuplicate(await server.request('POST', '/Patient', { body: patient(NHID_LEGACY, hyphenated(n)) }), holder);
  // The same number under an unrelated system is another identifier.
  expect((await server.request('POST', '/Patient', { body: patient('https://hospital.example/mrn', n) })).status).toBe(201);
  // A conditional create on the NHID finds the holder instead (200), as the spec's If-None-Exist says.
  const again = await server.request('POST', '/Patient', {
    body: patient(NHID, n),
    headers: { 'if-none-exist': `identifier=${NHID}|${n}` },
  });
  expect(again.status).toBe(200);
  expect(again.body.id).toBe(first.body.id);
});

test('50 concurrent creates of one NHID: exactly one is stored', async () => {
  const n = fresh();
  const results = await Promise.all(
    Array.from({ length: 50 }, (_, i) =>
      server.request('POST', '/Patient', { body: patient(i % 2 ? NHID : NHID_LEGACY, i % 3 ? n : hyphenated(n)) }),
    ),
  );
  const created = results.filter((r) => r.status === 201);
  expect(created).toHaveLength(1);
  for (const r of results.filter((x) => x.status !== 201)) expectDuplicate(r, `Patient/${created[0].body.id}`);
  const found = await server.request('GET', `/Patient?identifier=${NHID}|${n}&_total=accurate`);
  expect(found.body.total).toBe(1);
});

test('concurrent creates of many NHIDs, some twice (grouped into shared statements): one Patient per NHID, holding its claim', async () => {
  const single = Array.from({ length: 20 }, () => fresh());
  const twice = Array.from({ length: 5 }, () => fresh());
  const bodies = [...single, ...twice, ...twice].map((n) => patient(NHID, n));
  const results = await Promise.all(bodies.map((body) => server.request('POST', '/Patient', { body })));
  expect(results.filter((r) => r.status === 201)).toHaveLength(25);
  expect(results.filter((r) => r.status === 409)).toHaveLength(5);
  for (const n of [...single, ...twice]) {
    const found = await server.request('GET', `/Patient?identifier=${NHID}|${n}&_total=accurate`);
    expect(found.body.total).toBe(1);
    const { rows } = await server.pool.query('SELECT resource_type, resource_id FROM business_claim WHERE system = $1 AND value = $2', [NHID, n]);
    expect(rows).toEqual([{ resource_type: 'Patient', resource_id: found.body.entry[0].resource.id }]);
  }
  // each refusal names the holder of its NHID
  for (const r of results.filter((x) => x.status === 409)) {
    expect(r.body.issue[0].code).toBe('duplicate');
    expect(r.body.issue[0].diagnostics).toMatch(/^Patient\/[^ ]+ already has the /);
  }
});

test('claims follow the resource: an update keeps its own NHID, may not take another, frees one it drops; a delete frees it', async () => {
  const a = fresh();
  const b = fresh();
  const pa = await server.request('POST', '/Patient', { body: patient(NHID, a, 'Meera Nair') });
  const pb = await server.request('POST', '/Patient', { body: patient(NHID, b, 'Kavya Iyer') });
  const idA = pa.body.id as string;
  const idB = pb.body.id as string;
  // Re-saving with its own number in the other form is fine.
  expect((await server.request('PUT', `/Patient/${idA}`, { body: { ...patient(NHID, hyphenated(a), 'Meera Nair'), id: idA } })).status).toBe(200);
  // Taking B's number is not.
  expectDuplicate(await server.request('PUT', `/Patient/${idA}`, { body: { ...patient(NHID, b, 'Meera Nair'), id: idA } }), `Patient/${idB}`);
  // PATCH is the same write path.
  const patch = await server.request('PATCH', `/Patient/${idA}`, {
    body: [{ op: 'replace', path: '/identifier/0/value', value: hyphenated(b) }],
    headers: { 'content-type': 'application/json-patch+json' },
  });
  expectDuplicate(patch, `Patient/${idB}`);
  // B drops its number: A may now take it.
  expect(
    (await server.request('PUT', `/Patient/${idB}`, { body: { ...patient('https://hospital.example/mrn', b, 'Kavya Iyer'), id: idB } })).status,
  ).toBe(200);
  expect((await server.request('PUT', `/Patient/${idA}`, { body: { ...patient(NHID, b, 'Meera Nair'), id: idA } })).status).toBe(200);
  // A's old number was freed when A took the new one; A is deleted: B's old number is free again too.
  expect((await server.request('POST', '/Patient', { body: patient(NHID, a) })).status).toBe(201);
  expect((await server.request('DELETE', `/Patient/${idA}`)).status).toBeLessThan(300);
  expect((await server.request('POST', '/Patient', { body: patient(NHID, b) })).status).toBe(201);
});

test('bundles: a transaction with two patients of one NHID fails as a whole; a batch stores one and refuses the other', async () => {
  const n = fresh();
  const entry = (name: string, form: string) => ({ resource: patient(NHID, form, name), request: { method: 'POST', url: 'Patient' } });
  const tx = await server.request('POST', '/', {
    body: { resourceType: 'Bundle', type: 'transaction', entry: [entry('Arjun Rao', n), entry('Arjun R.', hyphenated(n))] },
  });
  expect(tx.status).toBe(409);
  expect((await server.request('GET', `/Patient?identifier=${NHID}|${n}&_total=accurate`)).body.total).toBe(0);

  const batch = await server.request('POST', '/', {
    body: { resourceType: 'Bundle', type: 'batch', entry: [entry('Arjun Rao', n), entry('Arjun R.', hyphenated(n))] },
  });
  expect(batch.status).toBe(200);
  const statuses = (batch.body.entry as Json[]).map((e) => String((e.response as Json).status));
  expect(statuses.filter((s) => s.startsWith('201'))).toHaveLength(1);
  expect(statuses.filter((s) => s.startsWith('409'))).toHaveLength(1);
});

test('registries query a patient by NHID in any form: normalised, hyphenated, legacy system, value only, :of-type', async () => {
  const n = fresh();
  const p = await server.request('POST', '/Patient', { body: patient(NHID_LEGACY, hyphenated(n), 'Lakshmi Menon') });
  expect(p.status).toBe(201);
  const queries = [
    `identifier=${NHID}|${n}`,
    `identifier=${NHID}|${hyphenated(n)}`,
    `identifier=${NHID_LEGACY}|${n}`,
    `identifier=${n}`,
    `identifier=${hyphenated(n)}`,
    `identifier:of-type=https://nrces.in/ndhm/fhir/r4/CodeSystem/ndhm-identifier-type-code|HIN|${hyphenated(n)}`,
  ];
  for (const q of queries) {
    const r = await server.request('GET', `/Patient?${q}`);
    expect({ q, ids: ((r.body.entry as Json[] | undefined) ?? []).map((e) => (e.resource as Json).id) }).toEqual({ q, ids: [p.body.id] });
  }
});

test('one Organization per HFR id and one Practitioner per HPR id (hyphens and spaces do not count)', async () => {
  const org = (value: string) => ({ resourceType: 'Organization', identifier: [{ system: HFR, value }], name: 'Arogya Hospital, Pune' });
  const hfr = `IN27${fresh().slice(-8)}`;
  const o = await server.request('POST', '/Organization', { body: org(hfr) });
  expect(o.status).toBe(201);
  expectDuplicate(await server.request('POST', '/Organization', { body: org(`${hfr.slice(0, 4)} ${hfr.slice(4)}`) }), `Organization/${o.body.id}`);
  expectDuplicate(
    await server.request('POST', '/Organization', { body: { ...org(hfr), identifier: [{ system: 'https://facility.ndhm.gov.in', value: hfr }] } }),
    `Organization/${o.body.id}`,
  );

  const doc = (system: string, value: string) => ({
    resourceType: 'Practitioner',
    identifier: [{ system, value }],
    name: [{ text: 'Dr. Sunita Rao' }],
  });
  const hpr = fresh();
  const d = await server.request('POST', '/Practitioner', { body: doc(HPR, hpr) });
  expect(d.status).toBe(201);
  expectDuplicate(
    await server.request('POST', '/Practitioner', { body: doc('https://doctor.ndhm.gov.in', hyphenated(hpr)) }),
    `Practitioner/${d.body.id}`,
  );
});

test('AROGYA_UNIQUE_IDENTIFIERS adds and removes systems', async () => {
  expect(parseUniqueIdentifiers(undefined).map((r) => `${r.resourceType}|${r.system}`)).toEqual([
    `Patient|${NHID}`,
    `Organization|${HFR}`,
    `Practitioner|${HPR}`,
  ]);
  expect(parseUniqueIdentifiers(`none,Patient|${NHID_LEGACY}`).map((r) => `${r.resourceType}|${r.system}`)).toEqual([`Patient|${NHID}`]);
  expect(() => parseUniqueIdentifiers('Patient')).toThrow(/Type\|system/);
  expect(() => parseUniqueIdentifiers(`Patient|${NHID},none`)).toThrow(/first/);

  const custom = await startServer({
    uniqueIdentifiers: parseUniqueIdentifiers(`-Practitioner|${HPR},Patient|https://hospital.example/mrn`),
  });
  try {
    const mrn = `MRN-${fresh()}`;
    const mrnPatient = (name: string) => ({ ...patient('https://hospital.example/mrn', mrn, name) });
    const first = await custom.request('POST', '/Patient', { body: mrnPatient('Anil Shah') });
    expect(first.status).toBe(201);
    // Added systems compare values exactly.
    expectDuplicate(await custom.request('POST', '/Patient', { body: mrnPatient('Anil S.') }), `Patient/${first.body.id}`);
    expect((await custom.request('POST', '/Patient', { body: patient('https://hospital.example/mrn', mrn.toLowerCase()) })).status).toBe(201);
    // HPR no longer unique there.
    const hpr = fresh();
    const doc = { resourceType: 'Practitioner', identifier: [{ system: HPR, value: hpr }], name: [{ text: 'Dr. A' }] };
    expect((await custom.request('POST', '/Practitioner', { body: doc })).status).toBe(201);
    expect((await custom.request('POST', '/Practitioner', { body: doc })).status).toBe(201);
  } finally {
    await custom.close();
  }
});
