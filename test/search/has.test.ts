/**
 * `_has` without `_sort` is driven from the referring resources' reference rows (repository/search/compile/driven.ts):
 * the page's ids come from the index, each match once however many resources refer to it, paged by id. Checked
 * against the resource-table form (`_sort=_id`), across pages, with a dangling reference (referential integrity
 * off) that must never surface as a match, and with other criteria on the matched type.
 */
import { startServer, type TestServer } from '../harness';

let server: TestServer;

async function ids(query: string): Promise<string[]> {
  const res = await server.request('GET', query);
  expect(res.status).toBe(200);
  return (res.body.entry ?? []).map((e: { resource: { id: string } }) => e.resource.id);
}

/** Every id of a search, following next links. */
async function allPages(query: string): Promise<string[]> {
  const out: string[] = [];
  let url: string | undefined = query;
  while (url) {
    const res: { status: number; body: any } = await server.request('GET', url);
    expect(res.status).toBe(200);
    out.push(...(res.body.entry ?? []).map((e: { resource: { id: string } }) => e.resource.id));
    const next: { url: string } | undefined = (res.body.link ?? []).find((l: { relation: string }) => l.relation === 'next');
    url = next ? next.url.slice(next.url.indexOf('/fhir') + '/fhir'.length) : undefined;
  }
  return out;
}

beforeAll(async () => {
  server = await startServer({ referentialIntegrity: false });
  const put = async (r: Record<string, unknown>) => expect((await server.request('PUT', `/${r.resourceType}/${r.id}`, { body: r })).status).toBe(201);
  for (let i = 0; i < 30; i++) {
    await put({ resourceType: 'Patient', id: `pt${String(i).padStart(2, '0')}`, gender: i % 2 ? 'male' : 'female' });
    // patients 0..23 have OPD visits, one to three each; the day of the visit depends on the patient
    for (let k = 0; k < (i < 24 ? 1 + (i % 3) : 0); k++) {
      await put({
        resourceType: 'Encounter',
        id: `en${i}-${k}`,
        status: 'finished',
        class: { code: 'AMB' },
        subject: { reference: `Patient/pt${String(i).padStart(2, '0')}` },
        period: { start: `2024-05-0${1 + (i % 4)}T0${k}:00:00Z`, end: `2024-05-0${1 + (i % 4)}T0${k}:30:00Z` },
      });
    }
  }
  // a visit of a patient who is not on the server
  await put({
    resourceType: 'Encounter',
    id: 'en-ghost',
    status: 'finished',
    class: { code: 'AMB' },
    subject: { reference: 'Patient/ghost' },
    period: { start: '2024-05-01T09:00:00Z' },
  });
}, 60_000);
afterAll(async () => server?.close());

test('matches once each, paged by id, equal to the resource-table form', async () => {
  const expected = Array.from({ length: 24 }, (_, i) => `pt${String(i).padStart(2, '0')}`);
  expect(await allPages('/Patient?_has:Encounter:subject:status=finished&_count=5')).toEqual(expected);
  expect(await allPages('/Patient?_has:Encounter:subject:status=finished&_sort=_id&_count=7')).toEqual(expected);
});

test('a day, combined with a criterion on the matched type; dangling references never match', async () => {
  // day 1: patients i % 4 == 0 (pt00, pt04, …, pt20) and the ghost's visit
  expect(await ids('/Patient?_has:Encounter:subject:date=2024-05-01')).toEqual(['pt00', 'pt04', 'pt08', 'pt12', 'pt16', 'pt20']);
  expect(await ids('/Patient?_has:Encounter:subject:date=2024-05-02&gender=male')).toEqual(['pt01', 'pt05', 'pt09', 'pt13', 'pt17', 'pt21']);
  expect(await ids('/Patient?_has:Encounter:subject:date=2024-05-02&gender=female')).toEqual([]);
  const res = await server.request('GET', '/Patient?_has:Encounter:subject:date=2024-05-01&_total=accurate');
  expect(res.body.total).toBe(6);
});

test('a deleted referrer no longer makes its target match', async () => {
  expect(await ids('/Patient?_has:Encounter:subject:date=2024-05-04&_count=100')).toEqual(['pt03', 'pt07', 'pt11', 'pt15', 'pt19', 'pt23']);
  expect((await server.request('DELETE', '/Encounter/en3-0')).status).toBe(204);
  expect(await ids('/Patient?_has:Encounter:subject:date=2024-05-04&_count=100')).toEqual(['pt07', 'pt11', 'pt15', 'pt19', 'pt23']);
});
