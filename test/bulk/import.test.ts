/**
 * $import of NDJSON and the upload endpoint: the round trip the issue asks for ($export → $import into a fresh
 * database → the same resources, byte for byte), per-file reports with line numbers, references checked once the
 * whole job is written (files in any order), inputs only from uploads or allow-listed locations.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Pool } from '../../server/database/pool';
import { fixturesAvailable, type TestServer } from '../harness';
import { ALFREDA, LUIGI, bulkFetch, countsByType, download, kickOff, loadSynthea, runExport, startBulkServer, waitForJob } from './helpers';

type Json = Record<string, any>;

const haveFixtures = fixturesAvailable('bulk import round trip');

function importBody(inputs: { type: string; url: string }[]): Json {
  return {
    resourceType: 'Parameters',
    parameter: [
      { name: 'inputFormat', valueCode: 'application/fhir+ndjson' },
      { name: 'inputSource', valueUri: 'http://example.org/source' },
      ...inputs.map((i) => ({
        name: 'input',
        part: [
          { name: 'type', valueCode: i.type },
          { name: 'url', valueUri: i.url },
        ],
      })),
    ],
  };
}

async function upload(server: TestServer, text: string, type = 'application/fhir+ndjson'): Promise<string> {
  const res = await bulkFetch(`${server.base}/_bulk/upload`, { method: 'POST', body: text, headers: { 'content-type': type } });
  expect(res.status).toBe(201);
  const body = (await res.json()) as Json;
  expect(res.headers.get('location')).toBe(body.url);
  return body.url as string;
}

async function runImport(server: TestServer, inputs: { type: string; url: string }[]): Promise<Json> {
  const res = await kickOff(server, '/$import', { method: 'POST', body: importBody(inputs) });
  expect(res.status).toBe(202);
  const done = await waitForJob(server, res.headers.get('content-location')!, 120_000);
  expect(done.status).toBe(200);
  return done.body as Json;
}

async function contentKeys(pool: Pool): Promise<string[]> {
  const { rows } = await pool.query<{ k: string }>(
    `SELECT resource_type || '/' || id || ' ' || arogya_content_key(content) AS k FROM resource WHERE NOT deleted ORDER BY resource_type, id`,
  );
  return rows.map((r) => r.k);
}

let target: TestServer & { dataDir: string };
let filesDir: string;

beforeAll(async () => {
  filesDir = fs.mkdtempSync(path.join(os.tmpdir(), 'arogya-import-files-'));
  target = await startBulkServer({ importAllow: [`${pathToFileURL(filesDir).href}/`], bulkUploadLimit: 32 * 1024 * 1024 });
});

afterAll(async () => {
  await target?.close();
  fs.rmSync(filesDir, { recursive: true, force: true });
});

(haveFixtures ? test : test.skip)(
  '$export → $import into a fresh database: the same resources, by type and content; importing again changes nothing',
  async () => {
    const source = await startBulkServer();
    try {
      await loadSynthea(source, [ALFREDA, LUIGI]);
      const manifest = await runExport(source, '/$export');
      // the export's files need the source's token (requiresAccessToken), which the reader does not have: fetched
      // with it into a folder the reader may import from
      const exported = fs.mkdtempSync(path.join(filesDir, 'export-'));
      const inputs: { type: string; url: string }[] = [];
      for (const o of manifest.output as Json[]) {
        const file = path.join(exported, `${o.type}.ndjson`);
        fs.writeFileSync(file, await (await bulkFetch(o.url)).text());
        inputs.push({ type: o.type, url: pathToFileURL(file).href });
      }
      const reader = await startBulkServer({ importAllow: [`${pathToFileURL(exported).href}/`] });
      try {
        const result = await runImport(reader, [...inputs].reverse()); // any order: references are checked at the end
        expect(result.error).toEqual([]);
        expect(result.output).toEqual([...inputs].reverse().map((i) => ({ type: i.type, inputUrl: i.url, count: expect.any(Number) })));
        const counts = await countsByType(source.pool);
        expect(await countsByType(reader.pool)).toEqual(counts);
        for (const o of result.output) expect(o.count).toBe(counts[o.type]);
        expect(await contentKeys(reader.pool)).toEqual(await contentKeys(source.pool));

        const versions = (await reader.pool.query('SELECT count(*)::int AS n FROM resource_history')).rows[0].n;
        const again = await runImport(reader, inputs);
        expect(again.error).toEqual([]);
        expect((await reader.pool.query('SELECT count(*)::int AS n FROM resource_history')).rows[0].n).toBe(versions);
      } finally {
        await reader.close();
      }
    } finally {
      await source.close();
    }
  },
  180_000,
);

test('per-file report: rejected lines with their line numbers, dangling references found after the whole job', async () => {
  const observations = [
    {
      resourceType: 'Observation',
      id: 'imp-obs-1',
      status: 'final',
      code: { text: 'pulse' },
      subject: { reference: 'Patient/imp-p1' },
      valueQuantity: { value: 72.1, unit: '/min' },
    },
    { resourceType: 'Observation', id: 'imp-obs-2', status: 'final', code: { text: 'pulse' }, subject: { reference: 'Patient/imp-nobody' } },
    { resourceType: 'Observation', id: 'imp-obs-3', status: 'final', code: { text: 'pulse' }, subject: { reference: 'Patient/imp-p2' } },
  ];
  // decimals written as text, to check they keep their precision
  const obsText = observations.map((o) => JSON.stringify(o).replace('"value":72.1', '"value":72.10')).join('\n');
  const patientLines = [
    JSON.stringify({ resourceType: 'Patient', id: 'imp-p1', name: [{ family: 'Deshpande' }] }),
    '',
    '{"resourceType": "Patient", "id": ',
    JSON.stringify({ resourceType: 'Observation', id: 'wrong-type', status: 'final', code: { text: 'x' } }),
    JSON.stringify({ resourceType: 'Patient', name: [{ family: 'NoId' }] }),
    JSON.stringify({ resourceType: 'Patient', id: 'imp-invalid', gender: 'nonsense' }),
    JSON.stringify({ resourceType: 'Patient', id: 'imp-p2', name: [{ family: 'Kulkarni' }] }),
  ];
  const obsUrl = await upload(target, `${obsText}\n`);
  fs.writeFileSync(path.join(filesDir, 'patients.ndjson'), patientLines.join('\r\n'));
  const patientUrl = pathToFileURL(path.join(filesDir, 'patients.ndjson')).href;

  const result = await runImport(target, [
    { type: 'Observation', url: obsUrl }, // before the Patients it references
    { type: 'Patient', url: patientUrl },
  ]);
  expect(result.output).toEqual([
    { type: 'Observation', inputUrl: obsUrl, count: 3 },
    { type: 'Patient', inputUrl: patientUrl, count: 2 },
  ]);
  expect(result.error.map((e: Json) => [e.type, e.inputUrl, e.count])).toEqual([
    ['OperationOutcome', obsUrl, 1],
    ['OperationOutcome', patientUrl, 4],
  ]);
  const obsErrors = (await download(result.error[0].url)).lines.map((l) => JSON.parse(l) as Json);
  expect(obsErrors[0].resourceType).toBe('OperationOutcome');
  expect(obsErrors[0].issue[0]).toMatchObject({ severity: 'error', code: 'not-found' });
  expect(obsErrors[0].issue[0].diagnostics).toMatch(/^Line 2: .*Patient\/imp-nobody/);
  const patientErrors = (await download(result.error[1].url)).lines.map((l) => JSON.parse(l) as Json);
  expect(patientErrors.map((o) => /^Line (\d+):/.exec(o.issue[0].diagnostics)![1])).toEqual(['3', '4', '5', '6']);
  expect(patientErrors[1].issue[0].diagnostics).toMatch(/is a Observation, but this input holds Patient/);
  expect(patientErrors[3].issue.some((i: Json) => /gender/.test(JSON.stringify(i)))).toBe(true);

  const read = await target.request('GET', '/Observation/imp-obs-1');
  expect(read.status).toBe(200);
  expect(read.text).toContain('72.10');
  expect((await target.request('GET', '/Patient/imp-p2')).status).toBe(200);
  expect((await target.request('GET', '/Patient/imp-invalid')).status).toBe(404);
  expect((await target.pool.query('SELECT count(*)::int AS n FROM bulk_import_written')).rows[0].n).toBe(0);
});

describe('$import kick-off validation', () => {
  test.each([
    { what: 'no Prefer: respond-async', headers: { prefer: '' }, inputs: [{ type: 'Patient', url: 'UPLOAD' }] },
    { what: 'an arbitrary URL (never fetched)', inputs: [{ type: 'Patient', url: 'http://169.254.169.254/latest/meta-data' }] },
    { what: 'a file outside the allowed folder', inputs: [{ type: 'Patient', url: 'file:///etc/passwd' }] },
    { what: 'a path escaping the allowed folder', inputs: [{ type: 'Patient', url: 'ALLOWED/../../etc/passwd' }] },
    { what: 'an unknown upload', inputs: [{ type: 'Patient', url: 'BASE/_bulk/upload/00000000-0000-4000-8000-000000000000' }] },
    { what: 'an input type that is no resource type', inputs: [{ type: 'Nonsense', url: 'UPLOAD' }] },
    { what: 'no inputs', inputs: [] },
  ])('$what → 400', async ({ headers, inputs }) => {
    const uploaded = await upload(target, '{"resourceType":"Patient","id":"x"}\n');
    const resolved = inputs.map((i) => ({
      ...i,
      url: i.url.replace('UPLOAD', uploaded).replace('BASE', target.base).replace('ALLOWED', pathToFileURL(filesDir).href),
    }));
    const res = await kickOff(target, '/$import', {
      method: 'POST',
      body: importBody(resolved),
      headers: headers as Record<string, string> | undefined,
    });
    expect(res.status).toBe(400);
    expect(res.body.resourceType).toBe('OperationOutcome');
  });

  test('inputFormat other than NDJSON → 400; GET → 405; unknown parameters → 400 unless lenient', async () => {
    const url = await upload(target, '{"resourceType":"Patient","id":"x"}\n');
    const body = importBody([{ type: 'Patient', url }]);
    body.parameter[0].valueCode = 'application/fhir+json';
    expect((await kickOff(target, '/$import', { method: 'POST', body })).status).toBe(400);
    expect((await kickOff(target, '/$import')).status).toBe(405);
    const extra = importBody([{ type: 'Patient', url }]);
    extra.parameter.push({ name: 'frobnicate', valueString: 'yes' });
    expect((await kickOff(target, '/$import', { method: 'POST', body: extra })).status).toBe(400);
    const lenient = await kickOff(target, '/$import', { method: 'POST', body: extra, headers: { prefer: 'respond-async; handling=lenient' } });
    expect(lenient.status).toBe(202);
    expect((await waitForJob(target, lenient.headers.get('content-location')!)).status).toBe(200);
  });
});

describe('the upload endpoint', () => {
  test('streams bodies larger than the JSON body limit to disk, reads them back, deletes them', async () => {
    const line = JSON.stringify({ resourceType: 'Basic', id: 'big', code: { text: 'y'.repeat(1000) } });
    const text = `${Array.from({ length: 18_000 }, () => line).join('\n')}\n`; // ~18 MB > the 16 MiB JSON limit
    const url = await upload(target, text, 'application/ndjson');
    const back = await bulkFetch(url);
    expect(back.headers.get('content-type')).toMatch(/^application\/fhir\+ndjson/);
    expect((await back.text()).length).toBe(text.length);
    expect((await bulkFetch(url, { method: 'DELETE' })).status).toBe(204);
    expect((await bulkFetch(url)).status).toBe(404);
  });

  test('wrong content type → 415; over AROGYA_BULK_UPLOAD_LIMIT → 413 and nothing kept', async () => {
    const json = await bulkFetch(`${target.base}/_bulk/upload`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/fhir+json' } });
    expect(json.status).toBe(415);
    const small = await startBulkServer({ bulkUploadLimit: 4096 });
    try {
      const res = await bulkFetch(`${small.base}/_bulk/upload`, {
        method: 'POST',
        body: 'x'.repeat(10_000),
        headers: { 'content-type': 'application/fhir+ndjson' },
      });
      expect(res.status).toBe(413);
      expect(fs.readdirSync(path.join(small.dataDir, 'bulk', 'uploads'))).toEqual([]);
    } finally {
      await small.close();
    }
  });
});
