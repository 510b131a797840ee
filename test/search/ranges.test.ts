/**
 * Repeated range criteria (`date=ge…&date=lt…`) and the paths the search compiler takes for speed: on a
 * single-valued parameter they are tested on one index row (with the span GiST index bounding both sides); on a
 * multi-valued parameter each may be met by a different value (search.html: repeated parameter = AND). Searches
 * without `_sort` are paged by id straight from the index rows of their driving criterion; a resource matching
 * through several index rows still appears once.
 */
import { startServer, type TestServer } from '../harness';
import { singleValued } from '../../server/fhir/search/paths';
import { searchParam } from '../../server/fhir/search/registry';

let server: TestServer;

async function ids(query: string): Promise<string[]> {
  const res = await server.request('GET', query);
  expect(res.status).toBe(200);
  return (res.body.entry ?? []).map((e: { resource: { id: string } }) => e.resource.id).sort();
}

beforeAll(async () => {
  server = await startServer({ referentialIntegrity: false });
  const put = async (r: Record<string, unknown>) => expect((await server.request('PUT', `/${r.resourceType}/${r.id}`, { body: r })).status).toBe(201);
  await put({ resourceType: 'Encounter', id: 'e1', status: 'finished', class: { code: 'AMB' }, period: { start: '2020-01-01', end: '2020-01-10' } });
  await put({
    resourceType: 'Encounter',
    id: 'e2',
    status: 'finished',
    class: { code: 'AMB' },
    period: { start: '2020-03-01T10:00:00Z', end: '2020-03-01T11:00:00Z' },
  });
  await put({ resourceType: 'Encounter', id: 'e3', status: 'finished', class: { code: 'AMB' }, period: { start: '2019-06-01' } });
  // two reaction dates, five months apart (Immunization.reaction.date is 0..*)
  await put({
    resourceType: 'Immunization',
    id: 'i1',
    status: 'completed',
    vaccineCode: { text: 'x' },
    patient: { reference: 'Patient/x' },
    occurrenceDateTime: '2019-12-01',
    reaction: [{ date: '2020-01-01' }, { date: '2020-06-01' }],
  });
  for (let i = 0; i < 30; i++) {
    await put({ resourceType: 'Patient', id: `pp${String(i).padStart(2, '0')}`, name: [{ family: `Rao${i % 3}`, given: ['Ravi', 'Ravindra'] }] });
  }
}, 60_000);
afterAll(async () => server?.close());

test('single- and multi-valued parameters are told apart from the R4 definitions', () => {
  const sv = (type: string, code: string) => singleValued(searchParam(type, code)!.expression, type);
  expect(sv('Encounter', 'date')).toBe(true); // Encounter.period
  expect(sv('Observation', 'date')).toBe(true); // Observation.effective[x]
  expect(sv('Patient', 'birthdate')).toBe(true);
  expect(sv('Immunization', 'reaction-date')).toBe(false); // reaction 0..*
  expect(sv('Patient', 'name')).toBe(false);
});

test('a two-sided range on a single-valued date: overlap semantics, on one row', async () => {
  expect(await ids('/Encounter?date=ge2020-01-05&date=lt2020-01-07')).toEqual(['e1', 'e3']); // e3 is open-ended
  expect(await ids('/Encounter?date=ge2020-02-01&date=lt2020-04-01')).toEqual(['e2', 'e3']);
  expect(await ids('/Encounter?date=ge2020-01-11&date=lt2020-02-01')).toEqual(['e3']);
  expect(await ids('/Encounter?date=lt2019-01-01&date=ge2018-01-01')).toEqual([]);
  expect(await ids('/Encounter?date=sa2019-12-31&date=eb2020-03-02')).toEqual(['e1', 'e2']);
});

test('repeated criteria on a multi-valued date may each be met by a different value', async () => {
  // neither reaction date lies in [2020-05-01, 2020-02-01), but one is ≥ May and another < February
  expect(await ids('/Immunization?reaction-date=ge2020-05-01&reaction-date=lt2020-02-01')).toEqual(['i1']);
  expect(await ids('/Immunization?reaction-date=ge2020-07-01&reaction-date=lt2020-02-01')).toEqual([]);
});

test('paging by id from the index rows: each resource once, whatever number of its values match', async () => {
  // every patient matches `ravi` twice (Ravi, Ravindra) and the text once more
  const seen: string[] = [];
  let next: string | undefined = '/Patient?name=ravi&_count=7';
  while (next) {
    const res: { status: number; body: { entry?: { resource: { id: string } }[]; link: { relation: string; url: string }[] } } = await server.request(
      'GET',
      next,
    );
    expect(res.status).toBe(200);
    seen.push(...(res.body.entry ?? []).map((e) => e.resource.id));
    next = res.body.link.find((l) => l.relation === 'next')?.url;
  }
  expect(seen).toEqual(Array.from({ length: 30 }, (_, i) => `pp${String(i).padStart(2, '0')}`));
  // with another criterion and an accurate total
  const res = await server.request('GET', '/Patient?name=ravi&family=rao1&_total=accurate&_count=3');
  expect(res.body.total).toBe(10);
  expect(res.body.entry).toHaveLength(3);
});
