/**
 * Bulk Data $export (https://hl7.org/fhir/uv/bulkdata/export.html) over real HTTP on Synthea data: kick-off
 * validation, the system-level round trip (status → manifest → NDJSON files matching the database), Patient- and
 * Group-level contents, `_since`/`_type`/`_typeFilter`, the transactionTime guarantee for late commits, and
 * cancellation with DELETE.
 */
import fs from 'node:fs';
import path from 'node:path';
import { inTransaction } from '../../server/database/pool';
import { Repository } from '../../server/repository/repository';
import { TEST_AUTH, fixturesAvailable, type TestServer } from '../harness';
import { ALFREDA, LUIGI, countsByType, download, exportedResources, kickOff, loadSynthea, runExport, startBulkServer, waitForJob } from './helpers';

type Json = Record<string, any>;

const haveFixtures = fixturesAvailable('bulk export tests');
const maybe = haveFixtures ? describe : describe.skip;

let server: TestServer & { dataDir: string };
let loaded: Json[] = [];

beforeAll(async () => {
  server = await startBulkServer();
  if (haveFixtures) loaded = await loadSynthea(server, [ALFREDA, LUIGI]);
}, 120_000);

afterAll(async () => {
  await server?.close();
});

describe('kick-off validation', () => {
  test.each([
    { what: 'no Prefer: respond-async', url: '/$export', headers: { prefer: '' }, status: 400 },
    { what: 'an unsupported _outputFormat', url: '/$export?_outputFormat=application/fhir%2Bjson', headers: {}, status: 400 },
    { what: 'an unknown _type', url: '/$export?_type=Patient,Nonsense', headers: {}, status: 400 },
    { what: 'a _type outside the Patient compartment at patient level', url: '/Patient/$export?_type=Practitioner', headers: {}, status: 400 },
    { what: 'a malformed _typeFilter', url: '/$export?_typeFilter=identifier%3Dx', headers: {}, status: 400 },
    {
      what: 'a _typeFilter with criteria the search engine does not support',
      url: '/$export?_typeFilter=Patient%3Fnonsense-param%3Dx',
      headers: {},
      status: 400,
    },
    { what: 'a _typeFilter for a type _type excludes', url: '/$export?_type=Patient&_typeFilter=Observation%3F_id%3Dx', headers: {}, status: 400 },
    { what: 'a malformed _since', url: '/$export?_since=yesterday', headers: {}, status: 400 },
    { what: 'an unsupported parameter', url: '/$export?_elements=id', headers: {}, status: 400 },
    { what: '$export on a type other than Patient', url: '/Observation/$export', headers: {}, status: 404 },
    { what: '$export on an unknown Group', url: '/Group/no-such-group/$export', headers: {}, status: 404 },
    { what: '$export on a Patient instance', url: '/Patient/x/$export', headers: {}, status: 404 },
  ])('$what → $status', async ({ url, headers, status }) => {
    const res = await kickOff(server, url, { headers: headers as Record<string, string> });
    expect(res.status).toBe(status);
    expect(res.body.resourceType).toBe('OperationOutcome');
    expect(res.headers.get('content-location')).toBeNull();
  });

  test('Prefer: handling=lenient ignores unsupported parameters and types with a warning', async () => {
    const res = await kickOff(server, '/$export?_elements=id&_type=Patient,Nonsense&_outputFormat=ndjson', {
      headers: { prefer: 'respond-async, handling=lenient' },
    });
    expect(res.status).toBe(202);
    expect(res.body.issue.filter((i: Json) => i.severity === 'warning').length).toBe(2);
    const done = await waitForJob(server, res.headers.get('content-location')!);
    expect(done.status).toBe(200);
    expect(done.body.output.every((o: Json) => o.type === 'Patient')).toBe(true);
  });

  test('the abbreviated _outputFormat values and a POST Parameters kick-off are accepted', async () => {
    for (const f of ['application/ndjson', 'ndjson', 'application/fhir%2Bndjson']) {
      expect((await kickOff(server, `/$export?_type=Organization&_outputFormat=${f}`)).status).toBe(202);
    }
    const res = await kickOff(server, '/$export', {
      method: 'POST',
      body: {
        resourceType: 'Parameters',
        parameter: [
          { name: '_type', valueString: 'Organization' },
          { name: '_outputFormat', valueString: 'ndjson' },
        ],
      },
    });
    expect(res.status).toBe(202);
    expect((await waitForJob(server, res.headers.get('content-location')!)).status).toBe(200);
  });

  test('an unknown status URL is a 404; DELETE of it too', async () => {
    expect((await server.request('GET', '/_bulk/jobs/00000000-0000-4000-8000-000000000000')).status).toBe(404);
    expect((await server.request('DELETE', '/_bulk/jobs/00000000-0000-4000-8000-000000000000')).status).toBe(404);
    expect((await server.request('GET', '/_bulk/jobs/not-a-uuid')).status).toBe(404);
    expect((await server.request('PUT', '/_bulk/jobs/00000000-0000-4000-8000-000000000000', { body: {} })).status).toBe(405);
  });
});

maybe('exports of Synthea data', () => {
  test('system level: the manifest lists one file per type and every file holds exactly what the database holds', async () => {
    const res = await kickOff(server, '/$export');
    expect(res.status).toBe(202);
    const statusUrl = res.headers.get('content-location')!;
    expect(statusUrl).toMatch(new RegExp(`^${server.base}/_bulk/jobs/[0-9a-f-]{36}$`));
    const done = await waitForJob(server, statusUrl);
    expect(done.status).toBe(200);
    expect(done.headers.get('content-type')).toMatch(/^application\/json/);
    expect(done.headers.get('expires')).toBeTruthy();
    const manifest = done.body;
    expect(manifest.request).toBe(`${server.base}/$export`);
    expect(manifest.requiresAccessToken).toBe(TEST_AUTH === 'smart');
    expect(Date.parse(manifest.transactionTime)).toBeLessThanOrEqual(Date.now());
    expect(manifest.error).toEqual([]);
    const counts = await countsByType(server.pool);
    expect(Object.fromEntries(manifest.output.map((o: Json) => [o.type, o.count]))).toEqual(counts);
    const first = await download(manifest.output[0].url);
    expect(first.contentType).toMatch(/^application\/fhir\+ndjson/);
    const exported = await exportedResources(manifest);
    // every loaded resource comes out once, with the content it was written with
    const byKey = new Map([...exported.values()].flat().map((r) => [`${r.resourceType}/${r.id}`, r]));
    expect(byKey.size).toBe(Object.values(counts).reduce((a, b) => a + b, 0));
    const patient = loaded.find((r) => r.resourceType === 'Patient')!;
    const { meta, ...rest } = byKey.get(`Patient/${patient.id}`)!;
    expect(meta.versionId).toBe('1');
    expect(rest).toEqual(JSON.parse(JSON.stringify({ ...patient, meta: undefined })));
    // the status URL keeps answering with the manifest
    expect((await server.request('GET', statusUrl)).status).toBe(200);
  });

  test('Patient/$export: the patients and their compartments, nothing outside it', async () => {
    const manifest = await runExport(server, '/Patient/$export');
    const exported = await exportedResources(manifest);
    expect(exported.get('Patient')!.length).toBe(2);
    expect(exported.has('Practitioner')).toBe(false);
    expect(exported.has('Organization')).toBe(false);
    const counts = await countsByType(server.pool);
    for (const t of ['Observation', 'Encounter', 'Immunization', 'Claim']) expect(exported.get(t)!.length).toBe(counts[t]);
  });

  test('Group/[id]/$export: only the members and their compartments; the patient parameter narrows further', async () => {
    const alfreda = loaded.find((r) => r.resourceType === 'Patient')!;
    const group = {
      resourceType: 'Group',
      id: 'bulk-cohort',
      type: 'person',
      actual: true,
      member: [{ entity: { reference: `Patient/${alfreda.id}` } }],
    };
    expect((await server.request('PUT', '/Group/bulk-cohort', { body: group })).status).toBe(201);
    const manifest = await runExport(server, '/Group/bulk-cohort/$export');
    const exported = await exportedResources(manifest);
    expect(exported.get('Patient')!.map((p) => p.id)).toEqual([alfreda.id]);
    const expected = loaded.filter((r) => r.resourceType === 'Observation' && JSON.stringify(r).includes(`Patient/${alfreda.id}`)).length;
    expect(exported.get('Observation')!.length).toBe(expected);
    for (const obs of exported.get('Observation')!) expect(obs.subject.reference).toBe(`Patient/${alfreda.id}`);
    expect(exported.get('Group')!.map((g) => g.id)).toEqual(['bulk-cohort']); // Group.member is a Patient compartment link

    const luigi = loaded.filter((r) => r.resourceType === 'Patient')[1];
    const narrowed = await runExport(server, '/Group/bulk-cohort/$export', {
      method: 'POST',
      body: { resourceType: 'Parameters', parameter: [{ name: 'patient', valueReference: { reference: `Patient/${luigi.id}` } }] },
    });
    expect(narrowed.output).toEqual([]); // Luigi is not a member
  });

  test('_type and _typeFilter select types and resources; several filters for one type are OR-ed', async () => {
    const patients = loaded.filter((r) => r.resourceType === 'Patient');
    const ident = patients[0].identifier.find((i: Json) => i.system && i.value);
    const filter = encodeURIComponent(`Patient?identifier=${ident.system}|${ident.value}`);
    const manifest = await runExport(server, `/$export?_type=Patient,Organization&_typeFilter=${filter}`);
    const exported = await exportedResources(manifest);
    expect(exported.get('Patient')!.map((p) => p.id)).toEqual([patients[0].id]);
    expect(exported.get('Organization')!.length).toBe((await countsByType(server.pool)).Organization);
    expect([...exported.keys()].sort()).toEqual(['Organization', 'Patient']);

    const two = `${encodeURIComponent(`Patient?_id=${patients[0].id}`)},${encodeURIComponent(`Patient?_id=${patients[1].id}`)}`;
    const both = await exportedResources(await runExport(server, `/$export?_type=Patient&_typeFilter=${two}`));
    expect(
      both
        .get('Patient')!
        .map((p) => p.id)
        .sort(),
    ).toEqual(patients.map((p) => p.id).sort());
  });

  test('_since=transactionTime exports exactly what changed after the previous export, and lists deletions', async () => {
    const alfreda = loaded.find((r) => r.resourceType === 'Patient')!;
    const doomed = {
      resourceType: 'Observation',
      id: 'since-doomed',
      status: 'final',
      code: { text: 'to be deleted' },
      subject: { reference: `Patient/${alfreda.id}` },
    };
    expect((await server.request('PUT', '/Observation/since-doomed', { body: doomed })).status).toBe(201);
    const before = await runExport(server, '/$export?_type=Patient,Observation');
    expect(before.deleted).toBeUndefined(); // no _since, no deleted list
    const obs = loaded.find((r) => r.resourceType === 'Observation')!;
    const changed = { ...obs, status: obs.status === 'final' ? 'amended' : 'final' };
    expect((await server.request('PUT', `/Observation/${obs.id}`, { body: changed })).status).toBe(200);
    expect((await server.request('DELETE', '/Observation/since-doomed')).status).toBe(204);
    const since = encodeURIComponent(before.transactionTime);
    const manifest = await runExport(server, `/$export?_type=Patient,Observation&_since=${since}`);
    const after = await exportedResources(manifest);
    expect([...after.keys()]).toEqual(['Observation']);
    expect(after.get('Observation')!.map((o) => [o.id, o.status, o.meta.versionId])).toEqual([[obs.id, changed.status, '2']]);
    // deletions since then: one transaction Bundle per deleted resource
    expect(manifest.deleted.map((d: Json) => [d.type, d.count])).toEqual([['Observation', 1]]);
    const { lines } = await download(manifest.deleted[0].url);
    expect(JSON.parse(lines[0])).toEqual({
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [{ request: { method: 'DELETE', url: 'Observation/since-doomed' } }],
    });
    // a patient-level export lists it too: it was in the patient's compartment before it was deleted
    const group = await runExport(server, `/Patient/$export?_type=Observation&_since=${since}`);
    expect(group.deleted.map((d: Json) => d.count)).toEqual([1]);
  });
});

test('a version committed after the export began is in the next _since export, never lost between the two', async () => {
  const repo = new Repository(server.pool, { referentialIntegrity: true, baseUrl: server.base, timeZone: 'UTC' });
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  let written!: () => void;
  const inside = new Promise<void>((r) => (written = r));
  // A write whose transaction is open while the export runs: its lastUpdated is earlier than its commit.
  const late = inTransaction(server.pool, async (client) => {
    await repo.executeWrites(client, [
      repo.planVersion(
        { resourceType: 'Basic', id: 'late-commit', versionId: 1, method: 'PUT', insert: true },
        { resourceType: 'Basic', id: 'late-commit', code: { text: 'late' } },
      ),
    ]);
    written();
    await held;
  });
  await inside;
  const first = await runExport(server, '/$export?_type=Basic');
  expect(first.output).toEqual([]);
  release();
  await late;
  const next = await exportedResources(await runExport(server, `/$export?_type=Basic&_since=${encodeURIComponent(first.transactionTime)}`));
  expect(next.get('Basic')!.map((b) => b.id)).toEqual(['late-commit']);
});

test('DELETE on the status URL cancels a running export and removes its files', async () => {
  // Hold the export inside its run: an exclusive lock on the resource table blocks its first read.
  const locker = await server.pool.connect();
  await locker.query('BEGIN');
  await locker.query('LOCK TABLE resource IN ACCESS EXCLUSIVE MODE');
  let statusUrl: string;
  try {
    const res = await kickOff(server, '/$export?_type=Basic');
    statusUrl = res.headers.get('content-location')!;
    const deadline = Date.now() + 20_000;
    let status = await server.request('GET', statusUrl);
    while (status.headers.get('x-progress') !== 'started' && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
      status = await server.request('GET', statusUrl);
    }
    expect(status.status).toBe(202); // running
    const del = await server.request('DELETE', statusUrl);
    expect(del.status).toBe(202);
    expect(del.body.resourceType).toBe('OperationOutcome');
  } finally {
    await locker.query('ROLLBACK');
    locker.release();
  }
  const jobId = statusUrl.split('/').pop()!;
  expect((await server.request('GET', statusUrl)).status).toBe(404);
  expect((await server.request('DELETE', statusUrl)).status).toBe(404);
  // the run goes on to its next check, stops, and leaves nothing behind; the job stays cancelled
  await new Promise((r) => setTimeout(r, 1000));
  expect(fs.existsSync(path.join(server.dataDir, 'bulk', 'jobs', jobId))).toBe(false);
  const { rows } = await server.pool.query(`SELECT status, manifest FROM bulk_job WHERE id = $1`, [jobId]);
  expect(rows[0]).toEqual({ status: 'cancelled', manifest: null });
  // and the runner goes on with the next job
  expect((await runExport(server, '/$export?_type=Basic')).error).toEqual([]);
}, 60_000);
