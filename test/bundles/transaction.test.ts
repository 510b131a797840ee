/**
 * Transaction bundles (http.html#transaction): urn:uuid/urn:oid resolution everywhere a link can be, processing
 * order, conditional create/update/delete, ifMatch, PATCH entries, conditional references (0, 1, >1 matches), and
 * all-or-nothing: a failing entry leaves no trace in any table.
 */
import { useServer, type Json } from '../harness';

const server = useServer();

const NHID = 'https://healthid.abdm.gov.in';
const HFR = 'https://facility.abdm.gov.in';

function txn(entry: Json[], type = 'transaction'): Json {
  return { resourceType: 'Bundle', type, entry };
}

function post(fullUrl: string, resource: Json, extra: Json = {}): Json {
  return { fullUrl, resource, request: { method: 'POST', url: resource.resourceType, ...extra } };
}

async function tableCounts(): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  const { rows: tables } = await server.pool.query<{ t: string }>(
    `SELECT tablename AS t FROM pg_tables WHERE schemaname = 'public' AND tablename LIKE 'search\\_%'`,
  );
  for (const t of ['resource', 'resource_history', 'resource_link', 'search_token', ...tables.map((r) => r.t).filter((t) => t !== 'search_token')]) {
    const { rows } = await server.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${t}`);
    out[t] = rows[0].n;
  }
  return out;
}

test('urn:uuid and urn:oid fullUrls resolve in references, extensions, contained resources, uri elements and narrative', async () => {
  const org = 'urn:uuid:4f0d2e8a-0c9b-4d1e-9d7e-2b6f3c1a0001';
  const pat = 'urn:oid:1.2.36.146.595.217.0.1';
  const doc = 'urn:uuid:4f0d2e8a-0c9b-4d1e-9d7e-2b6f3c1a0003';
  const bin = 'urn:uuid:4f0d2e8a-0c9b-4d1e-9d7e-2b6f3c1a0004';
  const res = await server.request('POST', '/', {
    headers: { prefer: 'return=representation' },
    body: txn([
      post(doc, {
        resourceType: 'DocumentReference',
        status: 'current',
        identifier: [{ system: 'urn:ietf:rfc:3986', value: doc }],
        subject: { reference: pat },
        content: [{ attachment: { contentType: 'text/plain', url: bin } }],
      }),
      post(pat, {
        resourceType: 'Patient',
        text: {
          status: 'generated',
          div: `<div xmlns="http://www.w3.org/1999/xhtml">Patient of <a href="${org}">the hospital</a> <img src="${bin}" alt="photo"/></div>`,
        },
        identifier: [{ system: NHID, value: '91-0000-0000-0001' }],
        managingOrganization: { reference: org },
        extension: [{ url: 'http://example.org/fhir/StructureDefinition/registered-at', valueReference: { reference: org } }],
        contained: [{ resourceType: 'RelatedPerson', id: 'mother', patient: { reference: pat } }],
        link: [{ other: { reference: '#mother' }, type: 'seealso' }],
        contact: [{ organization: { reference: org } }],
        _birthDate: { extension: [{ url: 'http://example.org/fhir/StructureDefinition/birth-place', valueReference: { reference: org } }] },
        birthDate: '1990-05-01',
      }),
      post(org, { resourceType: 'Organization', name: 'Arogya Hospital, Nashik', identifier: [{ system: HFR, value: 'IN2710000001' }] }),
      post(bin, { resourceType: 'Binary', contentType: 'text/plain', data: 'aGVsbG8=' }),
    ]),
  });
  expect({ status: res.status, issues: res.body.issue }).toEqual({ status: 200, issues: undefined });
  expect(res.body.type).toBe('transaction-response');
  expect(res.body.entry).toHaveLength(4);
  for (const e of res.body.entry) {
    expect(e.response.status).toBe('201 Created');
    expect(e.response.location).toMatch(/^[A-Za-z]+\/[0-9a-f-]{36}\/_history\/1$/);
    expect(e.response.etag).toBe('W/"1"');
    expect(e.response.lastModified).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(e.fullUrl).toBe(`${server.base}/${e.response.location.split('/_history')[0]}`);
  }
  const [docRes, patRes, orgRes, binRes] = res.body.entry.map((e: Json) => e.resource);
  const orgRef = `Organization/${orgRes.id}`;
  const patRef = `Patient/${patRes.id}`;
  expect(patRes.managingOrganization.reference).toBe(orgRef);
  expect(patRes.extension[0].valueReference.reference).toBe(orgRef);
  expect(patRes.contained[0].patient.reference).toBe(patRef);
  expect(patRes.contact[0].organization.reference).toBe(orgRef);
  expect(patRes._birthDate.extension[0].valueReference.reference).toBe(orgRef);
  expect(patRes.text.div).toContain(`href="${orgRef}"`);
  expect(patRes.text.div).toContain(`src="Binary/${binRes.id}"`);
  expect(docRes.subject.reference).toBe(patRef);
  expect(docRes.content[0].attachment.url).toBe(`Binary/${binRes.id}`); // type url: a link
  expect(docRes.identifier[0].value).toBe(doc); // type string: a business identifier, kept as written
  // The stored versions read back the same, and the references are indexed (integrity, links).
  const read = await server.request('GET', `/Patient/${patRes.id}`);
  expect(read.body.managingOrganization.reference).toBe(orgRef);
  expect((await server.request('DELETE', `/Organization/${orgRes.id}`)).status).toBe(409);
});

test("processing order and statuses: DELETE, POST, PUT, PATCH, GET — the GET sees the transaction's writes", async () => {
  const old = await server.request('PUT', '/Patient/ord-old', { body: { resourceType: 'Patient', id: 'ord-old', gender: 'male' } });
  expect(old.status).toBe(201);
  const keep = await server.request('PUT', '/Patient/ord-keep', { body: { resourceType: 'Patient', id: 'ord-keep', gender: 'male' } });
  expect(keep.status).toBe(201);
  const res = await server.request('POST', '/', {
    body: txn([
      { request: { method: 'GET', url: 'Patient/ord-new' } },
      {
        fullUrl: `${server.base}/Patient/ord-new`,
        resource: { resourceType: 'Patient', id: 'ord-new', gender: 'female' },
        request: { method: 'PUT', url: 'Patient/ord-new' },
      },
      {
        resource: {
          resourceType: 'Binary',
          contentType: 'application/json-patch+json',
          data: Buffer.from(JSON.stringify([{ op: 'replace', path: '/gender', value: 'other' }])).toString('base64'),
        },
        request: { method: 'PATCH', url: 'Patient/ord-keep', ifMatch: 'W/"1"' },
      },
      { request: { method: 'DELETE', url: 'Patient/ord-old' } },
      post('urn:uuid:aa5b07c4-1d2e-4c3b-9f8a-000000000001', {
        resourceType: 'Observation',
        status: 'final',
        code: { text: 'Pulse' },
        subject: { reference: `${server.base}/Patient/ord-new` },
      }),
    ]),
  });
  expect(res.status).toBe(200);
  const statuses = res.body.entry.map((e: Json) => e.response.status);
  expect(statuses).toEqual(['200 OK', '201 Created', '200 OK', '204 No Content', '201 Created']);
  expect(res.body.entry[0].resource.gender).toBe('female'); // read ran after the PUT
  expect(res.body.entry[2].response.etag).toBe('W/"2"');
  expect(res.body.entry[1].resource).toBeUndefined(); // Prefer defaults to minimal
  expect((await server.request('GET', '/Patient/ord-keep')).body.gender).toBe('other');
  expect((await server.request('GET', '/Patient/ord-old')).status).toBe(410);
  const obsId = res.body.entry[4].response.location.split('/')[1];
  expect((await server.request('GET', `/Observation/${obsId}`)).body.subject.reference).toBe('Patient/ord-new'); // the entry's fullUrl: rewritten
});

test('GET/HEAD entries: vread, If-None-Match → 304, HEAD without a body, search', async () => {
  await server.request('PUT', '/Patient/rd-1', { body: { resourceType: 'Patient', id: 'rd-1', gender: 'male' } });
  const res = await server.request('POST', '/', {
    body: txn([
      { request: { method: 'GET', url: 'Patient/rd-1', ifNoneMatch: 'W/"1"' } },
      { request: { method: 'HEAD', url: 'Patient/rd-1' } },
      { request: { method: 'GET', url: 'Patient/rd-1/_history/1' } },
      { request: { method: 'GET', url: 'Patient?_id=rd-1' } },
    ]),
  });
  expect(res.status).toBe(200);
  expect(res.body.entry.map((e: Json) => e.response.status)).toEqual(['304 Not Modified', '200 OK', '200 OK', '200 OK']);
  expect(res.body.entry[1].resource).toBeUndefined();
  expect(res.body.entry[1].response.etag).toBe('W/"1"');
  expect(res.body.entry[2].resource.gender).toBe('male');
  expect(res.body.entry[3].resource.total).toBe(1);
  const missing = await server.request('POST', '/', { body: txn([{ request: { method: 'GET', url: 'Patient/rd-none' } }]) });
  expect(missing.status).toBe(404); // a failing read fails the transaction
});

test('GET entries of a transaction see its own writes: searches, reads and history on its connection', async () => {
  const gone = await server.request('POST', '/Patient', {
    body: { resourceType: 'Patient', identifier: [{ system: NHID, value: '91-7777-0000-0002' }] },
  });
  expect(gone.status).toBe(201);
  const res = await server.request('POST', '/', {
    body: txn([
      { request: { method: 'GET', url: `Patient?identifier=${NHID}|91-7777-0000-0001` } },
      { request: { method: 'GET', url: 'Patient/tx-own-1' } },
      { request: { method: 'GET', url: `Patient?identifier=${NHID}|91-7777-0000-0002` } },
      { request: { method: 'GET', url: 'Patient/tx-own-1/_history' } },
      post('urn:uuid:aa5b07c4-1d2e-4c3b-9f8a-000000000777', { resourceType: 'Patient', identifier: [{ system: NHID, value: '91-7777-0000-0001' }] }),
      { resource: { resourceType: 'Patient', id: 'tx-own-1', gender: 'female' }, request: { method: 'PUT', url: 'Patient/tx-own-1' } },
      { request: { method: 'DELETE', url: `Patient/${gone.body.id}` } },
    ]),
  });
  expect(res.status).toBe(200);
  expect(res.body.entry.map((e: Json) => e.response.status)).toEqual([
    '200 OK',
    '200 OK',
    '200 OK',
    '200 OK',
    '201 Created',
    '201 Created',
    '204 No Content',
  ]);
  const created = res.body.entry[4].response.location.split('/')[1];
  // a search by the identifier of a Patient created in this transaction finds it
  const found = res.body.entry[0].resource;
  expect(found.total).toBe(1);
  expect(found.entry[0].fullUrl).toBe(`${server.base}/Patient/${created}`);
  // a read of a resource created in this transaction
  expect(res.body.entry[1].resource.gender).toBe('female');
  expect(res.body.entry[1].response.etag).toBe('W/"1"');
  // a search does not see a resource deleted in this transaction
  expect(res.body.entry[2].resource.total).toBe(0);
  expect(res.body.entry[2].resource.entry ?? []).toEqual([]);
  expect(res.body.entry[3].resource.type).toBe('history');
  expect(res.body.entry[3].resource.total).toBe(1);
  // committed: the same search from outside now finds it too
  const after = await server.request('GET', `/Patient?identifier=${NHID}|91-7777-0000-0001`);
  expect(after.body.total).toBe(1);
});

test('a failed transaction leaves nothing its GET entries saw', async () => {
  const res = await server.request('POST', '/', {
    body: txn([
      { request: { method: 'GET', url: `Patient?identifier=${NHID}|91-7777-0000-0003` } },
      post('urn:uuid:aa5b07c4-1d2e-4c3b-9f8a-000000000778', { resourceType: 'Patient', identifier: [{ system: NHID, value: '91-7777-0000-0003' }] }),
      { request: { method: 'GET', url: 'Patient/tx-never' } },
    ]),
  });
  expect(res.status).toBe(404);
  expect((await server.request('GET', `/Patient?identifier=${NHID}|91-7777-0000-0003`)).body.total).toBe(0);
});

test('FHIRPath Patch entries, conditional update and conditional delete', async () => {
  await server.request('POST', '/Patient', {
    body: { resourceType: 'Patient', identifier: [{ system: NHID, value: '91-0000-0000-0101' }], gender: 'male' },
  });
  await server.request('POST', '/Patient', {
    body: { resourceType: 'Patient', identifier: [{ system: NHID, value: '91-0000-0000-0102' }], gender: 'male' },
  });
  const res = await server.request('POST', '/', {
    body: txn([
      {
        resource: {
          resourceType: 'Parameters',
          parameter: [
            {
              name: 'operation',
              part: [
                { name: 'type', valueCode: 'replace' },
                { name: 'path', valueString: 'Patient.gender' },
                { name: 'value', valueCode: 'female' },
              ],
            },
          ],
        },
        request: { method: 'PATCH', url: `Patient?identifier=${NHID}|91-0000-0000-0101` },
      },
      {
        resource: { resourceType: 'Patient', identifier: [{ system: NHID, value: '91-0000-0000-0103' }], gender: 'unknown' },
        request: { method: 'PUT', url: `Patient?identifier=${NHID}|91-0000-0000-0103` },
      },
      { request: { method: 'DELETE', url: `Patient?identifier=${NHID}|91-0000-0000-0102` } },
    ]),
  });
  expect(res.status).toBe(200);
  expect(res.body.entry.map((e: Json) => e.response.status)).toEqual(['200 OK', '201 Created', '204 No Content']);
  const search = async (v: string) => (await server.request('GET', `/Patient?identifier=${NHID}|${v}`)).body;
  expect((await search('91-0000-0000-0101')).entry[0].resource.gender).toBe('female');
  expect((await search('91-0000-0000-0102')).total).toBe(0);
  expect((await search('91-0000-0000-0103')).total).toBe(1);
});

test('conditional creates: an existing match is returned (200), two entries with the same criteria make one resource', async () => {
  const criteria = `identifier=${HFR}|IN2710000099`;
  const org = { resourceType: 'Organization', name: 'Arogya Clinic, Pune', identifier: [{ system: HFR, value: 'IN2710000099' }] };
  const body = txn([
    post('urn:uuid:0b7e3f4a-1111-4a2b-8c3d-000000000001', org, { ifNoneExist: criteria }),
    post('urn:uuid:0b7e3f4a-1111-4a2b-8c3d-000000000002', { ...org, name: 'Same clinic, other spelling' }, { ifNoneExist: criteria }),
    post('urn:uuid:0b7e3f4a-1111-4a2b-8c3d-000000000003', {
      resourceType: 'Location',
      name: 'OPD',
      managingOrganization: { reference: 'urn:uuid:0b7e3f4a-1111-4a2b-8c3d-000000000002' },
    }),
  ]);
  const first = await server.request('POST', '/', { body });
  expect(first.status).toBe(200);
  expect(first.body.entry.map((e: Json) => e.response.status)).toEqual(['201 Created', '200 OK', '201 Created']);
  const orgId = first.body.entry[0].response.location.split('/')[1];
  expect(first.body.entry[1].response.location).toBe(first.body.entry[0].response.location);
  const loc = await server.request('GET', `/${first.body.entry[2].response.location.split('/_history')[0]}`);
  expect(loc.body.managingOrganization.reference).toBe(`Organization/${orgId}`);

  const again = await server.request('POST', '/', { body });
  expect(again.body.entry.map((e: Json) => e.response.status)).toEqual(['200 OK', '200 OK', '201 Created']);
  expect(again.body.entry[0].response.location).toBe(`Organization/${orgId}/_history/1`);
  expect((await server.request('GET', `/Organization?identifier=${HFR}|IN2710000099`)).body.total).toBe(1);
});

test('conditional references: 1 match resolves, 0 → 422, more than 1 → 412 (and nothing is written)', async () => {
  const npi = 'http://hl7.org/fhir/sid/us-npi';
  await server.request('POST', '/Practitioner', { body: { resourceType: 'Practitioner', identifier: [{ system: npi, value: '1000000001' }] } });
  await server.request('POST', '/Practitioner', { body: { resourceType: 'Practitioner', identifier: [{ system: npi, value: '1000000002' }] } });
  await server.request('POST', '/Practitioner', { body: { resourceType: 'Practitioner', identifier: [{ system: npi, value: '1000000002' }] } });
  const one = (await server.request('GET', `/Practitioner?identifier=${npi}|1000000001`)).body.entry[0].resource.id;
  const encounter = (ref: string): Json =>
    txn([
      post('urn:uuid:6a1c7c1e-2222-4b5c-9d6e-000000000001', { resourceType: 'Patient', gender: 'female' }),
      post('urn:uuid:6a1c7c1e-2222-4b5c-9d6e-000000000002', {
        resourceType: 'Encounter',
        status: 'finished',
        class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' },
        subject: { reference: 'urn:uuid:6a1c7c1e-2222-4b5c-9d6e-000000000001' },
        participant: [{ individual: { reference: ref } }],
      }),
    ]);
  const before = await tableCounts();
  const ok = await server.request('POST', '/', { body: encounter(`Practitioner?identifier=${npi}|1000000001`) });
  expect(ok.status).toBe(200);
  const enc = await server.request('GET', `/${ok.body.entry[1].response.location.split('/_history')[0]}`);
  expect(enc.body.participant[0].individual.reference).toBe(`Practitioner/${one}`);

  const mid = await tableCounts();
  const none = await server.request('POST', '/', { body: encounter(`Practitioner?identifier=${npi}|1999999999`) });
  expect(none.status).toBe(422);
  expect(none.body.issue[0].diagnostics).toContain('Bundle.entry[1]');
  expect(none.body.issue[0].diagnostics).toContain('matches no resource');
  expect(none.body.issue[0].expression[0]).toBe('Bundle.entry[1].resource.participant[0].individual.reference');
  const many = await server.request('POST', '/', { body: encounter(`Practitioner?identifier=${npi}|1000000002`) });
  expect(many.status).toBe(412);
  expect(many.body.issue[0].code).toBe('multiple-matches');
  expect(await tableCounts()).toEqual(mid);
  expect(mid.resource).toBe(before.resource + 2);
});

test('a conditional reference may target a resource the same transaction creates (identifier criteria, normalised)', async () => {
  const res = await server.request('POST', '/', {
    headers: { prefer: 'return=representation' },
    body: txn([
      {
        resource: {
          resourceType: 'Encounter',
          status: 'planned',
          class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' },
          // legacy NDHM system and bare digits: the same ABHA number as the Patient below
          subject: { reference: 'Patient?identifier=https://healthid.ndhm.gov.in|91123400009999' },
        },
        request: { method: 'POST', url: 'Encounter' },
      },
      post('urn:uuid:3c4d5e6f-6666-4a7b-8c9d-000000000001', { resourceType: 'Patient', identifier: [{ system: NHID, value: '91-1234-0000-9999' }] }),
    ]),
  });
  expect({ status: res.status, issue: res.body.issue }).toEqual({ status: 200, issue: undefined });
  expect(res.body.entry[0].resource.subject.reference).toBe(`Patient/${res.body.entry[1].resource.id}`);
});

test('a transaction with one invalid entry leaves no trace in any table, and the outcome names the entry', async () => {
  const before = await tableCounts();
  const res = await server.request('POST', '/', {
    body: txn([
      post('urn:uuid:9d0e1f2a-3333-4c4d-8e9f-000000000001', { resourceType: 'Patient', identifier: [{ system: NHID, value: '91-0000-0000-0201' }] }),
      post('urn:uuid:9d0e1f2a-3333-4c4d-8e9f-000000000002', {
        resourceType: 'Observation',
        status: 'final',
        code: { text: 'Heart rate' },
        subject: { reference: 'urn:uuid:9d0e1f2a-3333-4c4d-8e9f-000000000001' },
      }),
      post('urn:uuid:9d0e1f2a-3333-4c4d-8e9f-000000000003', { resourceType: 'Observation', status: 'not-a-status', code: { text: 'BP' } }),
    ]),
  });
  expect(res.status).toBe(400);
  expect(res.body.resourceType).toBe('OperationOutcome');
  expect(res.body.issue[0].diagnostics).toMatch(/^Bundle\.entry\[2\] \(POST Observation\): /);
  expect(res.body.issue[0].expression[0]).toBe('Bundle.entry[2].resource.status');
  expect(await tableCounts()).toEqual(before);

  // A failure found only at the database (a dangling reference) rolls back too.
  const dangling = await server.request('POST', '/', {
    body: txn([
      post('urn:uuid:9d0e1f2a-3333-4c4d-8e9f-000000000004', { resourceType: 'Patient', gender: 'male' }),
      post('urn:uuid:9d0e1f2a-3333-4c4d-8e9f-000000000005', {
        resourceType: 'Patient',
        link: [{ other: { reference: 'Patient/nobody-here' }, type: 'seealso' }],
      }),
    ]),
  });
  expect(dangling.status).toBe(422);
  expect(dangling.body.issue[0].diagnostics).toContain('Bundle.entry[1]');
  expect(dangling.body.issue[0].diagnostics).toContain('Patient/nobody-here');
  expect(await tableCounts()).toEqual(before);
});

test('ifMatch per entry: a stale version fails the whole transaction with 412', async () => {
  await server.request('PUT', '/Patient/im-1', { body: { resourceType: 'Patient', id: 'im-1', gender: 'male' } });
  await server.request('PUT', '/Patient/im-1', { body: { resourceType: 'Patient', id: 'im-1', gender: 'female' } });
  const res = await server.request('POST', '/', {
    body: txn([
      post('urn:uuid:5e6f7a8b-4444-4d5e-8f90-000000000001', { resourceType: 'Patient', gender: 'other' }),
      { resource: { resourceType: 'Patient', id: 'im-1', gender: 'unknown' }, request: { method: 'PUT', url: 'Patient/im-1', ifMatch: 'W/"1"' } },
    ]),
  });
  expect(res.status).toBe(412);
  expect(res.body.issue[0].diagnostics).toContain('Bundle.entry[1]');
  expect((await server.request('GET', '/Patient/im-1')).body.gender).toBe('female');
});

test('malformed bundles and entries: type, references to unknown urn:uuids, overlapping identities', async () => {
  expect((await server.request('POST', '/', { body: { resourceType: 'Bundle', type: 'collection', entry: [] } })).status).toBe(400);
  expect((await server.request('POST', '/', { body: { resourceType: 'Patient' } })).status).toBe(400);
  const unknown = await server.request('POST', '/', {
    body: txn([
      post('urn:uuid:1f2e3d4c-5555-4e6f-9a0b-000000000001', {
        resourceType: 'Patient',
        link: [{ other: { reference: 'urn:uuid:1f2e3d4c-5555-4e6f-9a0b-999999999999' }, type: 'seealso' }],
      }),
    ]),
  });
  expect(unknown.status).toBe(422);
  expect(unknown.body.issue[0].diagnostics).toContain('does not resolve to any entry');
  const overlap = await server.request('POST', '/', {
    body: txn([
      { resource: { resourceType: 'Patient', id: 'ov-1' }, request: { method: 'PUT', url: 'Patient/ov-1' } },
      { request: { method: 'DELETE', url: 'Patient/ov-1' } },
    ]),
  });
  expect(overlap.status).toBe(400);
  expect(overlap.body.issue[0].diagnostics).toContain('only once');
  const noMethod = await server.request('POST', '/', { body: txn([{ resource: { resourceType: 'Patient' }, request: { url: 'Patient' } }]) });
  expect(noMethod.status).toBe(400);
  expect(noMethod.body.issue[0].diagnostics).toContain('Bundle.entry[0]');
});

test('the CapabilityStatement claims transaction and batch', async () => {
  const cs = await server.request('GET', '/metadata');
  const codes = cs.body.rest[0].interaction.map((i: Json) => i.code);
  expect(codes).toEqual(expect.arrayContaining(['transaction', 'batch']));
});
