/**
 * A search driven by a string prefix pages in (matched value, id) order (README *Result control*; migration
 * 20261127000990): each resource once, at its first matching value, keyset-paged both ways, so its first page is
 * the first index entries of the prefix. Expected orders are worked out by hand from the names below (the `name`
 * values of a HumanName are its parts and its whole text, case- and accent-folded).
 */
import { useServer, type Json } from '../harness';
import { loadFixtures } from './fixtures';

const patient = (id: string, given: string[], family: string): Json => ({ resourceType: 'Patient', id, name: [{ given, family }] });

// matching `name=a`, first matching value: p9 'anand' (also 'anand zed'), p5 'anand' (also 'anil'), p7 'anand'
// (written Ánand), p1 'arun'; p3 none ('bala', 'kumar'). Order: (anand, p5), (anand, p7), (anand, p9), (arun, p1).
const fixtures: Json[] = [
  patient('p9', ['Anand'], 'Zed'),
  patient('p5', ['Anil', 'Anand'], 'Kumar'),
  patient('p7', ['Ánand'], 'Menon'),
  patient('p1', ['Arun'], 'Nair'),
  patient('p3', ['Bala'], 'Kumar'),
];

const server = useServer();
beforeAll(async () => {
  await loadFixtures(server, fixtures);
});

async function page(url: string): Promise<{ ids: string[]; next?: string; previous?: string }> {
  const res = await server.request('GET', url);
  expect(res.status).toBe(200);
  const link = (rel: string) => (res.body.link as Json[]).find((l) => l.relation === rel)?.url as string | undefined;
  return { ids: ((res.body.entry ?? []) as Json[]).map((e) => e.resource.id as string), next: link('next'), previous: link('previous') };
}

test('each resource once, at its first matching value, then by id', async () => {
  expect((await page('/Patient?name=a')).ids).toEqual(['p5', 'p7', 'p9', 'p1']);
  expect((await page('/Patient?name=an')).ids).toEqual(['p5', 'p7', 'p9']);
  expect((await page('/Patient?name=k')).ids).toEqual(['p3', 'p5']); // both at 'kumar'
  expect((await page('/Patient?given=ani')).ids).toEqual(['p5']);
});

test('keyset paging forward and back; a resource created before the cursor does not shift the pages', async () => {
  const first = await page('/Patient?name=a&_count=2');
  expect(first.ids).toEqual(['p5', 'p7']);
  await loadFixtures(server, [patient('p0', ['Aaron'], 'Pillai')]); // sorts first: behind the cursor
  const second = await page(first.next!);
  expect(second.ids).toEqual(['p9', 'p1']);
  expect(second.next).toBeUndefined();
  expect((await page(second.previous!)).ids).toEqual(['p5', 'p7']);
  expect((await page('/Patient?name=a&_count=2')).ids).toEqual(['p0', 'p5']);
});

test('with other criteria, and with an accurate total', async () => {
  const res = await server.request('GET', '/Patient?name=a&family=kumar,menon&_total=accurate&_count=1');
  expect(res.body.total).toBe(2);
  expect(res.body.entry.map((e: Json) => e.resource.id)).toEqual(['p5']);
});
