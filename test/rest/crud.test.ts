/**
 * read, vread, create, update (+ update-as-create), delete (+ 410), no-op updates, on the seven HMS resource
 * types (Synthea data, plus the official Invoice example) and a sample of others, over real HTTP.
 */
import { startServer, fixturesAvailable, useServer, type Json } from '../harness';
import { specExample, syntheaResources } from '../fixtures';

const HAVE_FIXTURES = fixturesAvailable('crud tests on Synthea resources');
const d = HAVE_FIXTURES ? describe : describe.skip;

const server = useServer();

function withoutMeta(r: Json): Json {
  const { meta, ...rest } = r;
  if (meta) {
    const { versionId, lastUpdated, ...m } = meta;
    if (Object.keys(m).length) return { ...rest, meta: m };
  }
  return rest;
}

d('HMS resource types from Synthea', () => {
  const resources = HAVE_FIXTURES ? syntheaResources() : [];
  const pick = (type: string) => resources.find((r) => r.resourceType === type)!;
  const hmsTypes = ['Organization', 'Practitioner', 'Patient', 'Encounter', 'MedicationRequest', 'DiagnosticReport'];

  test('every resource of a Synthea patient loads by PUT (update-as-create) with integrity on and reads back', async () => {
    for (const r of resources) {
      const res = await server.request('PUT', `/${r.resourceType}/${r.id}`, { body: r });
      expect({ ref: `${r.resourceType}/${r.id}`, status: res.status, body: res.status === 201 ? undefined : res.body }).toEqual({
        ref: `${r.resourceType}/${r.id}`,
        status: 201,
        body: undefined,
      });
      expect(res.headers.get('etag')).toBe('W/"1"');
      expect(res.headers.get('location')).toBe(`${server.base}/${r.resourceType}/${r.id}/_history/1`);
    }
    for (const type of hmsTypes) {
      const r = pick(type);
      const res = await server.request('GET', `/${type}/${r.id}`);
      expect(res.status).toBe(200);
      expect(withoutMeta(res.body)).toEqual(withoutMeta(r));
      expect(res.body.meta.versionId).toBe('1');
      expect(res.body.meta.lastUpdated).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      expect(res.headers.get('content-type')).toBe('application/fhir+json; charset=utf-8');
      expect(new Date(res.headers.get('last-modified')!).getTime()).toBe(Math.floor(Date.parse(res.body.meta.lastUpdated) / 1000) * 1000);
    }
  });

  test.each(['Organization', 'Practitioner', 'Patient', 'Encounter', 'MedicationRequest', 'DiagnosticReport'])(
    '%s: create assigns an id, update makes version 2, vread reads both, an identical update is a no-op',
    async (type) => {
      const source = { ...pick(type) };
      delete source.id;
      const created = await server.request('POST', `/${type}`, { body: source });
      expect(created.status).toBe(201);
      const id = created.body.id as string;
      expect(id).toMatch(/^[0-9a-f-]{36}$/);
      expect(created.headers.get('location')).toBe(`${server.base}/${type}/${id}/_history/1`);
      expect(withoutMeta(created.body)).toEqual({ ...withoutMeta(source), id });

      const changed = { ...created.body, language: 'en-IN' };
      const updated = await server.request('PUT', `/${type}/${id}`, { body: changed });
      expect(updated.status).toBe(200);
      expect(updated.headers.get('etag')).toBe('W/"2"');
      expect(updated.body.meta.versionId).toBe('2');
      expect(updated.body.language).toBe('en-IN');

      const again = await server.request('PUT', `/${type}/${id}`, { body: updated.body });
      expect(again.status).toBe(200);
      expect(again.headers.get('etag')).toBe('W/"2"');

      const v1 = await server.request('GET', `/${type}/${id}/_history/1`);
      expect(v1.status).toBe(200);
      expect(v1.body.language).toBeUndefined();
      expect(v1.headers.get('etag')).toBe('W/"1"');
      const v2 = await server.request('GET', `/${type}/${id}/_history/2`);
      expect(v2.body.language).toBe('en-IN');
      expect((await server.request('GET', `/${type}/${id}/_history/3`)).status).toBe(404);
      expect((await server.request('GET', `/${type}/${id}/_history/abc`)).status).toBe(404);
    },
  );
});

describe('Invoice and a sample of other types (official R4 examples)', () => {
  test.each([
    ['Invoice', 'Invoice-example.json'],
    ['Medication', 'Medication-med0301.json'],
    ['Observation', 'Observation-example-genetics-1.json'],
    ['Questionnaire', 'Questionnaire-3141.json'],
    ['Basic', 'Basic-referral.json'],
  ])('%s round-trips through create, read, delete (410) and history', async (type, file) => {
    const integrityOff = await startServer({ referentialIntegrity: false });
    try {
      const example = specExample(file);
      delete example.meta;
      const id = example.id as string;
      const put = await integrityOff.request('PUT', `/${type}/${id}`, { body: example });
      expect(put.status).toBe(201);
      const read = await integrityOff.request('GET', `/${type}/${id}`);
      expect(withoutMeta(read.body)).toEqual(example);
      const del = await integrityOff.request('DELETE', `/${type}/${id}`);
      expect(del.status).toBe(204);
      expect(del.headers.get('etag')).toBe('W/"2"');
      const gone = await integrityOff.request('GET', `/${type}/${id}`);
      expect(gone.status).toBe(410);
      expect(gone.body.resourceType).toBe('OperationOutcome');
      expect(gone.body.issue[0].code).toBe('deleted');
      // deleting again is idempotent and creates no version
      expect((await integrityOff.request('DELETE', `/${type}/${id}`)).status).toBe(204);
      expect((await integrityOff.request('DELETE', `/${type}/does-not-exist`)).status).toBe(204);
      const hist = await integrityOff.request('GET', `/${type}/${id}/_history`);
      expect(hist.body.total).toBe(2);
      expect(hist.body.entry.map((e: Json) => e.request.method)).toEqual(['DELETE', 'PUT']);
      expect(hist.body.entry[0].resource).toBeUndefined();
      // re-create after delete continues the version sequence
      const again = await integrityOff.request('PUT', `/${type}/${id}`, { body: example });
      expect(again.status).toBe(201);
      expect(again.body.meta.versionId).toBe('3');
    } finally {
      await integrityOff.close();
    }
  });
});

describe('updates', () => {
  test('an update must carry the id of its URL', async () => {
    const body = { resourceType: 'Patient', id: 'p-one', gender: 'female' };
    expect((await server.request('PUT', '/Patient/p-two', { body })).status).toBe(400);
    const noId = await server.request('PUT', '/Patient/p-two', { body: { resourceType: 'Patient', gender: 'female' } });
    expect(noId.status).toBe(400);
    expect(noId.body.issue[0].diagnostics).toMatch(/id/);
  });

  test('server-managed meta (versionId, lastUpdated) sent by a client is ignored; other meta is kept', async () => {
    const body = {
      resourceType: 'Patient',
      meta: { versionId: '99', lastUpdated: '2001-01-01T00:00:00Z', tag: [{ system: 'urn:test', code: 'x' }] },
      gender: 'male',
    };
    const res = await server.request('POST', '/Patient', { body });
    expect(res.status).toBe(201);
    expect(res.body.meta.versionId).toBe('1');
    expect(res.body.meta.lastUpdated).not.toBe('2001-01-01T00:00:00Z');
    expect(res.body.meta.tag).toEqual([{ system: 'urn:test', code: 'x' }]);
  });

  test('a POST with an id in the body gets a new server id', async () => {
    const res = await server.request('POST', '/Patient', { body: { resourceType: 'Patient', id: 'client-id', gender: 'male' } });
    expect(res.status).toBe(201);
    expect(res.body.id).not.toBe('client-id');
  });
});
