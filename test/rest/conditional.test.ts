/**
 * Conditional create / update / delete / patch (http.html#ccreate, #cond-update, #cdelete), including races:
 * 50 concurrent identical conditional creates make exactly one resource; concurrent conditional updates never
 * duplicate; unsupported criteria are refused, never ignored.
 */
import { useServer, type Json } from '../harness';

const NHID = 'https://healthid.abdm.gov.in';
/** An identifier several patients may share (an NHID names one Patient only: test/registries/). */
const MRN = 'https://hospital.example/mrn';

const server = useServer();

function patient(nhid: string, extra: Json = {}, system = NHID): Json {
  return {
    resourceType: 'Patient',
    identifier: [{ system, value: nhid }],
    name: [{ text: 'Asha Verma', family: 'Verma', given: ['Asha'] }],
    gender: 'female',
    ...extra,
  };
}

async function count(query: string): Promise<number> {
  const res = await server.request('GET', `/Patient?${query}&_summary=count`);
  expect(res.status).toBe(200);
  return res.body.total as number;
}

describe('conditional create (If-None-Exist)', () => {
  test('no match creates (201), one match returns the existing resource (200), several → 412', async () => {
    const headers = { 'if-none-exist': `identifier=${NHID}|11-1111-1111-1111` };
    const first = await server.request('POST', '/Patient', { body: patient('11-1111-1111-1111'), headers });
    expect(first.status).toBe(201);
    const second = await server.request('POST', '/Patient', { body: patient('11-1111-1111-1111', { gender: 'male' }), headers });
    expect(second.status).toBe(200);
    expect(second.body.id).toBe(first.body.id);
    expect(second.body.gender).toBe('female');
    expect(second.headers.get('etag')).toBe('W/"1"');

    await server.request('POST', '/Patient', { body: patient('22-2222-2222-2222', {}, MRN) });
    await server.request('POST', '/Patient', { body: patient('22-2222-2222-2222', {}, MRN) });
    const multi = await server.request('POST', '/Patient', {
      body: patient('22-2222-2222-2222', {}, MRN),
      headers: { 'if-none-exist': `identifier=${MRN}|22-2222-2222-2222` },
    });
    expect(multi.status).toBe(412);
    expect(multi.body.issue[0].code).toBe('multiple-matches');
  });

  test('criteria forms: _id, |code, code, system|', async () => {
    const created = await server.request('POST', '/Patient', { body: patient('33-3333-3333-3333') });
    const id = created.body.id as string;
    for (const criteria of [`_id=${id}`, 'identifier=33-3333-3333-3333', `identifier=${NHID}|33-3333-3333-3333`]) {
      const res = await server.request('POST', '/Patient', { body: patient('33-3333-3333-3333'), headers: { 'if-none-exist': criteria } });
      expect({ criteria, status: res.status, id: res.body.id }).toEqual({ criteria, status: 200, id });
    }
    const noSystem = await server.request('POST', '/Patient', { body: patient('x'), headers: { 'if-none-exist': 'identifier=|33-3333-3333-3333' } });
    expect(noSystem.status).toBe(201); // `|code` means "no system", and ours has one
  });

  test('50 concurrent identical conditional creates produce exactly one resource', async () => {
    const nhid = '44-4444-4444-4444';
    const headers = { 'if-none-exist': `identifier=${NHID}|${nhid}` };
    const results = await Promise.all(Array.from({ length: 50 }, () => server.request('POST', '/Patient', { body: patient(nhid), headers })));
    const statuses = results.map((r) => r.status).sort();
    expect(statuses.filter((s) => s === 201)).toHaveLength(1);
    expect(statuses.filter((s) => s === 200)).toHaveLength(49);
    expect(new Set(results.map((r) => r.body.id)).size).toBe(1);
    expect(await count(`identifier=${NHID}|${nhid}`)).toBe(1);
  });

  test('unsupported or malformed criteria are refused with 400, never ignored', async () => {
    for (const criteria of [
      'name:fuzzy=Asha',
      'identifier:nope=x',
      'bogus=1',
      '_id=not%20an%20id',
      'identifier=',
      '_count=1',
      '_sort=name',
      'birthdate=xx',
    ]) {
      const res = await server.request('POST', '/Patient', { body: patient('55'), headers: { 'if-none-exist': criteria } });
      expect({ criteria, status: res.status }).toEqual({ criteria, status: 400 });
      expect(res.body.resourceType).toBe('OperationOutcome');
    }
    expect(await count(`identifier=${NHID}|55`)).toBe(0);
  });
});

describe('conditional update (PUT [type]?criteria)', () => {
  test('no match creates, one match updates it, several → 412', async () => {
    const q = `identifier=${encodeURIComponent(`${MRN}|66-6666-6666-6666`)}`;
    const created = await server.request('PUT', `/Patient?${q}`, { body: patient('66-6666-6666-6666', {}, MRN) });
    expect(created.status).toBe(201);
    const updated = await server.request('PUT', `/Patient?${q}`, { body: patient('66-6666-6666-6666', { gender: 'other' }, MRN) });
    expect(updated.status).toBe(200);
    expect(updated.body.id).toBe(created.body.id);
    expect(updated.body.meta.versionId).toBe('2');
    const wrongId = await server.request('PUT', `/Patient?${q}`, { body: patient('66-6666-6666-6666', { id: 'someone-else' }, MRN) });
    expect(wrongId.status).toBe(400);
    await server.request('POST', '/Patient', { body: patient('66-6666-6666-6666', {}, MRN) });
    const multi = await server.request('PUT', `/Patient?${q}`, { body: patient('66-6666-6666-6666', {}, MRN) });
    expect(multi.status).toBe(412);
  });

  test('no match with a client id in the body is an update-as-create with that id', async () => {
    const res = await server.request('PUT', `/Patient?identifier=${NHID}|77-7777-7777-7777`, {
      body: patient('77-7777-7777-7777', { id: 'nhid-77777777777777' }),
    });
    expect(res.status).toBe(201);
    expect(res.body.id).toBe('nhid-77777777777777');
  });

  test('concurrent conditional updates of one identity never create duplicates', async () => {
    const nhid = '88-8888-8888-8888';
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        server.request('PUT', `/Patient?identifier=${NHID}|${nhid}`, {
          body: patient(nhid, { birthDate: `1990-01-${String(i + 1).padStart(2, '0')}` }),
        }),
      ),
    );
    expect(results.filter((r) => r.status === 201)).toHaveLength(1);
    expect(results.filter((r) => r.status === 200)).toHaveLength(19);
    expect(new Set(results.map((r) => r.body.id)).size).toBe(1);
    expect(await count(`identifier=${NHID}|${nhid}`)).toBe(1);
    const hist = await server.request('GET', `/Patient/${results[0].body.id}/_history`);
    expect(hist.body.total).toBe(20);
  });

  test('PUT on a type URL without criteria is refused', async () => {
    const res = await server.request('PUT', '/Patient', { body: patient('1') });
    expect(res.status).toBe(405);
  });
});

describe('conditional delete', () => {
  test('deletes the single match; multiple matches are all deleted; no match is reported', async () => {
    const a = await server.request('POST', '/Patient', { body: patient('90-0000-0000-0001') });
    const del = await server.request('DELETE', `/Patient?identifier=${NHID}|90-0000-0000-0001`);
    expect(del.status).toBe(204);
    expect((await server.request('GET', `/Patient/${a.body.id}`)).status).toBe(410);

    await server.request('POST', '/Patient', { body: patient('90-0000-0000-0002', {}, MRN) });
    await server.request('POST', '/Patient', { body: patient('90-0000-0000-0002', {}, MRN) });
    const many = await server.request('DELETE', `/Patient?identifier=${MRN}|90-0000-0000-0002`, { headers: { prefer: 'return=OperationOutcome' } });
    expect(many.status).toBe(200);
    expect(many.body.issue[0].diagnostics).toMatch(/^Deleted 2 Patient/);
    expect(await count(`identifier=${MRN}|90-0000-0000-0002`)).toBe(0);

    const none = await server.request('DELETE', `/Patient?identifier=${NHID}|nobody`);
    expect(none.status).toBe(200);
    expect(none.body.issue[0].code).toBe('not-found');
  });

  test('conditional delete without criteria or with unknown criteria is refused', async () => {
    expect((await server.request('DELETE', '/Patient')).status).toBe(405);
    expect((await server.request('DELETE', '/Patient?family:fuzzy=Verma')).status).toBe(400);
    expect((await server.request('DELETE', '/Patient?family=Verma&_count=1')).status).toBe(400);
  });
});
