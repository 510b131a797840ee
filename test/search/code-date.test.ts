/**
 * `code` + two-sided `date` searches are driven from the combined search_code_date index (migration
 * 20261127000920): the results must be exactly those of the two criteria tested separately. Checked against
 * hand-computed sets, and against the resource-table form of the same search (`_sort=_id` takes that path) over
 * many windows; rows follow updates and deletes.
 */
import { startServer, type TestServer } from '../harness';

const LOINC = 'http://loinc.org';
let server: TestServer;

async function ids(query: string): Promise<string[]> {
  const res = await server.request('GET', query);
  expect(res.status).toBe(200);
  return (res.body.entry ?? []).map((e: { resource: { id: string } }) => e.resource.id).sort();
}

const obs = (id: string, codes: string[], effective: Record<string, unknown>) => ({
  resourceType: 'Observation',
  id,
  status: 'final',
  code: { coding: codes.map((c) => ({ system: LOINC, code: c })) },
  ...effective,
});

beforeAll(async () => {
  server = await startServer({ referentialIntegrity: false });
  const put = async (r: Record<string, unknown>) => expect((await server.request('PUT', `/${r.resourceType}/${r.id}`, { body: r })).status).toBe(201);
  await put(obs('bp1', ['8480-6'], { effectiveDateTime: '2024-03-01T10:00:00Z' }));
  await put(obs('bp2', ['8480-6'], { effectiveDateTime: '2024-03-09T23:30:00+05:30' })); // 2024-03-09T18:00Z
  await put(obs('bp3', ['8480-6', '8462-4'], { effectivePeriod: { start: '2024-02-28', end: '2024-03-02' } })); // two codings
  await put(obs('wt1', ['29463-7'], { effectiveDateTime: '2024-03-05' }));
  await put(obs('bp4', ['8480-6'], { effectiveDateTime: '2023-12-31' }));
  await put(obs('nodate', ['8480-6'], {}));
  // a DiagnosticReport also has `code` and `date`; an Encounter has `date` but no `code`
  await put({
    resourceType: 'DiagnosticReport',
    id: 'dr1',
    status: 'final',
    code: { coding: [{ system: LOINC, code: '58410-2' }] },
    effectiveDateTime: '2024-03-03',
  });
  for (let i = 0; i < 40; i++) {
    const day = String(1 + (i % 28)).padStart(2, '0');
    await put(obs(`g${i}`, [i % 3 ? '8867-4' : '2339-0'], { effectiveDateTime: `2024-0${1 + (i % 4)}-${day}T0${i % 10}:00:00Z` }));
  }
}, 60_000);
afterAll(async () => server?.close());

test('hand-computed results', async () => {
  expect(await ids(`/Observation?code=${LOINC}|8480-6&date=ge2024-03-01&date=lt2024-03-08`)).toEqual(['bp1', 'bp3']);
  expect(await ids(`/Observation?code=${LOINC}|8480-6&date=ge2024-03-01&date=le2024-03-31`)).toEqual(['bp1', 'bp2', 'bp3']);
  expect(await ids(`/Observation?code=8480-6&date=2024-03-01`)).toEqual(['bp1']); // any system; a day: bp3's period is wider
  expect(await ids(`/Observation?code=${LOINC}|8462-4&date=ge2024-03-01&date=lt2024-03-08`)).toEqual(['bp3']);
  expect(await ids(`/Observation?code=${LOINC}|8480-6,${LOINC}|29463-7&date=ge2024-03-01&date=lt2024-03-08`)).toEqual(['bp1', 'bp3', 'wt1']);
  expect(await ids(`/Observation?code=${LOINC}|8480-6&date=ge2023-12-31&date=lt2024-01-01`)).toEqual(['bp4']);
  expect(await ids(`/DiagnosticReport?code=${LOINC}|58410-2&date=ge2024-03-01&date=lt2024-03-08`)).toEqual(['dr1']);
  expect(await ids(`/Encounter?date=ge2024-03-01&date=lt2024-03-08`)).toEqual([]);
});

test('same results as the resource-table form, over many windows and codes', async () => {
  const codes = ['8867-4', '2339-0', '8480-6', `${LOINC}|8867-4`];
  for (let m = 1; m <= 4; m++) {
    for (const [lo, hi] of [
      ['01', '08'],
      ['05', '20'],
      ['15', '28'],
    ]) {
      for (const code of codes) {
        const q = `code=${code}&date=ge2024-0${m}-${lo}&date=lt2024-0${m}-${hi}`;
        const driven = await ids(`/Observation?${q}&_count=100`);
        const plain = await ids(`/Observation?${q}&_sort=_id&_count=100`);
        expect(driven).toEqual(plain);
      }
    }
  }
  // and a sample of those windows is not empty, so the comparison means something
  expect((await ids(`/Observation?code=8867-4&date=ge2024-01-01&date=lt2024-05-01&_count=100`)).length).toBeGreaterThan(20);
});

test('rows follow updates and deletes', async () => {
  const q = `/Observation?code=${LOINC}|8480-6&date=ge2024-03-01&date=lt2024-03-08`;
  const moved = obs('bp1', ['8480-6'], { effectiveDateTime: '2024-04-01T10:00:00Z' });
  expect((await server.request('PUT', '/Observation/bp1', { body: moved })).status).toBe(200);
  expect(await ids(q)).toEqual(['bp3']);
  const recoded = obs('bp3', ['8462-4'], { effectivePeriod: { start: '2024-02-28', end: '2024-03-02' } });
  expect((await server.request('PUT', '/Observation/bp3', { body: recoded })).status).toBe(200);
  expect(await ids(q)).toEqual([]);
  expect(await ids(`/Observation?code=${LOINC}|8462-4&date=ge2024-03-01&date=lt2024-03-08`)).toEqual(['bp3']);
  expect((await server.request('DELETE', '/Observation/bp3')).status).toBe(204);
  expect(await ids(`/Observation?code=${LOINC}|8462-4&date=ge2024-03-01&date=lt2024-03-08`)).toEqual([]);
});

test('one-sided dates and :not are not driven from the combined index, and still answer correctly', async () => {
  expect(await ids(`/Observation?code=${LOINC}|8480-6&date=ge2024-03-09`)).toEqual(['bp1', 'bp2']); // bp1 moved to April above
  expect(await ids(`/Observation?code:not=${LOINC}|8480-6&date=ge2024-03-01&date=lt2024-03-08&_count=100`)).toEqual(
    await ids(`/Observation?code:not=${LOINC}|8480-6&date=ge2024-03-01&date=lt2024-03-08&_sort=_id&_count=100`),
  );
});
