/**
 * Batch bundles (http.html#batch): every entry on its own, with its own status and outcome; one failure never
 * affects the others — whether it is found in the entry itself (validation), in the database (a dangling
 * reference, a referenced resource to delete, several matches), or on a GET. Entries touching the same resource
 * are processed one after the other, as the spec's sequential reading of a batch implies.
 */
import { useServer, type Json } from '../harness';
import { PASS_SIZE } from '../../server/repository/transaction';

const server = useServer();

const NHID = 'https://healthid.abdm.gov.in';
/** An identifier several patients may share (an NHID names one Patient only: test/registries/). */
const MRN = 'https://hospital.example/mrn';

function batch(entry: Json[]): Json {
  return { resourceType: 'Bundle', type: 'batch', entry };
}

test('partial failure: each entry answers for itself and the successes are stored', async () => {
  const org = await server.request('POST', '/Organization', { body: { resourceType: 'Organization', name: 'Arogya Hospital, Thrissur' } });
  const orgId = org.body.id;
  await server.request('POST', '/Patient', { body: { resourceType: 'Patient', managingOrganization: { reference: `Organization/${orgId}` } } });
  for (let i = 0; i < 2; i++) {
    await server.request('POST', '/Patient', { body: { resourceType: 'Patient', identifier: [{ system: MRN, value: '91-5555-0000-0001' }] } });
  }
  const res = await server.request('POST', '/', {
    body: batch([
      { resource: { resourceType: 'Patient', gender: 'female', name: [{ family: 'Menon' }] }, request: { method: 'POST', url: 'Patient' } },
      { resource: { resourceType: 'Patient', gender: 'sometimes' }, request: { method: 'POST', url: 'Patient' } },
      { resource: { resourceType: 'Patient', id: 'batch-put-1', gender: 'male' }, request: { method: 'PUT', url: 'Patient/batch-put-1' } },
      { request: { method: 'DELETE', url: `Organization/${orgId}` } },
      {
        resource: { resourceType: 'Patient', identifier: [{ system: MRN, value: '91-5555-0000-0001' }] },
        request: { method: 'POST', url: 'Patient', ifNoneExist: `identifier=${MRN}|91-5555-0000-0001` },
      },
      {
        resource: { resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: { reference: 'Patient/never-was' } },
        request: { method: 'POST', url: 'Observation' },
      },
      { request: { method: 'GET', url: `Organization/${orgId}` } },
      { request: { method: 'GET', url: 'Patient/never-was' } },
      { request: { method: 'GET', url: `Patient?identifier=${MRN}|91-5555-0000-0001` } },
      { resource: { resourceType: 'Patient' }, request: { method: 'POST', url: 'Patient/$meta' } },
      { request: { method: 'FETCH', url: 'Patient' } },
    ]),
  });
  expect(res.status).toBe(200);
  expect(res.body.type).toBe('batch-response');
  const statuses = res.body.entry.map((e: Json) => e.response.status);
  expect(statuses).toEqual([
    '201 Created',
    '400 Bad Request',
    '201 Created',
    '409 Conflict',
    '412 Precondition Failed',
    '422 Unprocessable Entity',
    '200 OK',
    '404 Not Found',
    '200 OK',
    '400 Bad Request',
    '400 Bad Request',
  ]);
  expect(res.body.entry[1].response.outcome.issue[0].expression[0]).toBe('Bundle.entry[1].resource.gender');
  expect(res.body.entry[3].response.outcome.issue[0].diagnostics).toContain('referenced by');
  expect(res.body.entry[4].response.outcome.issue[0].code).toBe('multiple-matches');
  expect(res.body.entry[5].response.outcome.issue[0].diagnostics).toContain('Patient/never-was');
  expect(res.body.entry[6].resource.name).toBe('Arogya Hospital, Thrissur');
  expect(res.body.entry[8].resource.resourceType).toBe('Bundle');
  expect(res.body.entry[8].resource.total).toBe(2);
  const created = res.body.entry[0].response.location.split('/_history')[0];
  expect((await server.request('GET', `/${created}`)).body.name[0].family).toBe('Menon');
  expect((await server.request('GET', '/Patient/batch-put-1')).status).toBe(200);
});

test('batch entries may not reference each other (bundle.html: non-conformant), but may repeat a conditional create', async () => {
  const res = await server.request('POST', '/', {
    body: batch([
      {
        fullUrl: 'urn:uuid:7a7b7c7d-0000-4000-8000-000000000001',
        resource: { resourceType: 'Organization', name: 'A' },
        request: { method: 'POST', url: 'Organization' },
      },
      {
        fullUrl: 'urn:uuid:7a7b7c7d-0000-4000-8000-000000000002',
        resource: { resourceType: 'Patient', managingOrganization: { reference: 'urn:uuid:7a7b7c7d-0000-4000-8000-000000000001' } },
        request: { method: 'POST', url: 'Patient' },
      },
      {
        resource: { resourceType: 'Patient', identifier: [{ system: NHID, value: '91-5555-0000-0002' }] },
        request: { method: 'POST', url: 'Patient', ifNoneExist: `identifier=${NHID}|91-5555-0000-0002` },
      },
      {
        resource: { resourceType: 'Patient', identifier: [{ system: NHID, value: '91-5555-0000-0002' }] },
        request: { method: 'POST', url: 'Patient', ifNoneExist: `identifier=${NHID}|91-5555-0000-0002` },
      },
    ]),
  });
  expect(res.body.entry.map((e: Json) => e.response.status)).toEqual(['201 Created', '400 Bad Request', '201 Created', '200 OK']);
  expect(res.body.entry[1].response.outcome.issue[0].diagnostics).toContain('use a transaction');
  expect(res.body.entry[3].response.location).toBe(res.body.entry[2].response.location);
  expect((await server.request('GET', `/Patient?identifier=${NHID}|91-5555-0000-0002`)).body.total).toBe(1);
});

test('entries on the same resource run one after the other: two PUTs make versions 1 and 2', async () => {
  const res = await server.request('POST', '/', {
    body: batch([
      { resource: { resourceType: 'Patient', id: 'seq-1', gender: 'male' }, request: { method: 'PUT', url: 'Patient/seq-1' } },
      { resource: { resourceType: 'Patient', id: 'seq-1', gender: 'female' }, request: { method: 'PUT', url: 'Patient/seq-1', ifMatch: 'W/"1"' } },
      { resource: { resourceType: 'Patient', id: 'seq-1', gender: 'female' }, request: { method: 'PUT', url: 'Patient/seq-1' } },
    ]),
  });
  expect(res.body.entry.map((e: Json) => [e.response.status, e.response.etag])).toEqual([
    ['201 Created', 'W/"1"'],
    ['200 OK', 'W/"2"'],
    ['200 OK', 'W/"2"'], // identical content: no new version
  ]);
  expect((await server.request('GET', '/Patient/seq-1')).body.gender).toBe('female');
});

test(`a batch larger than one pass (${PASS_SIZE} entries) with failures scattered through it`, async () => {
  const n = PASS_SIZE * 2 + 37;
  const bad = new Set([3, PASS_SIZE + 1, n - 1]);
  const entry = Array.from({ length: n }, (_, i) => ({
    resource: {
      resourceType: 'Basic',
      code: { text: bad.has(i) ? undefined : `item ${i}` },
      identifier: [{ system: 'urn:arogya:test', value: `big-${i}` }],
    },
    request: { method: 'POST', url: 'Basic' },
  }));
  for (const i of bad) (entry[i].resource as Json).code = { text: 42 };
  const res = await server.request('POST', '/', { body: batch(entry) });
  expect(res.status).toBe(200);
  const failed = res.body.entry.flatMap((e: Json, i: number) => (e.response.status === '201 Created' ? [] : [i]));
  expect(failed).toEqual([...bad]);
  const count = await server.request('GET', '/Basic?identifier=urn:arogya:test|&_summary=count');
  expect(count.body.total).toBe(n - bad.size);
});

test('Prefer: return=representation and return=OperationOutcome per entry', async () => {
  const body = batch([{ resource: { resourceType: 'Basic', code: { text: 'prefer' } }, request: { method: 'POST', url: 'Basic' } }]);
  const repr = await server.request('POST', '/', { body, headers: { prefer: 'return=representation' } });
  expect(repr.body.entry[0].resource.code.text).toBe('prefer');
  expect(repr.body.entry[0].resource.meta.versionId).toBe('1');
  const oo = await server.request('POST', '/', { body, headers: { prefer: 'return=OperationOutcome' } });
  expect(oo.body.entry[0].resource).toBeUndefined();
  expect(oo.body.entry[0].response.outcome.resourceType).toBe('OperationOutcome');
});
