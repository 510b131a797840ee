/**
 * `_sort` by a reference parameter (search.html#sort): resources are ordered by the reference's normalised value —
 * 'Type/id' for a local reference, the url for an absolute one — in byte order; a repeating reference sorts by its
 * lowest value ascending and its highest descending; resources without one come last. Multi-key sorts, keyset
 * paging that never skips or repeats while resources are created and deleted between pages, and index rows
 * written before the per-resource sort markers existed (migration 20261127000910). Expected orders by hand.
 */
import { useServer, type Json } from '../harness';
import { loadFixtures, matchIds } from './fixtures';

const EXTERNAL = 'http://ext.example.org/fhir/Patient/z';

function observation(id: string, tag: string, subject: string | undefined, performers: string[]): Json {
  const o: Json = {
    resourceType: 'Observation',
    id,
    meta: { tag: [{ system: 'urn:sortref', code: tag }] },
    status: 'final',
    code: { coding: [{ system: 'http://loinc.org', code: '8480-6' }] },
  };
  if (subject) o.subject = { reference: subject };
  if (performers.length) o.performer = performers.map((reference) => ({ reference }));
  return o;
}

const targets: Json[] = [
  { resourceType: 'Patient', id: 'pa' },
  { resourceType: 'Patient', id: 'pb' },
  { resourceType: 'Patient', id: 'pc' },
  { resourceType: 'Group', id: 'g1', type: 'person', actual: true },
  { resourceType: 'Organization', id: 'orgA', name: 'A' },
  { resourceType: 'Organization', id: 'orgB', name: 'B' },
  { resourceType: 'Practitioner', id: 'dr1' },
  { resourceType: 'Practitioner', id: 'dr2' },
];

// subject (sort value)                      performer values (lowest … highest)
// sr-a  Patient/pb                          Practitioner/dr1, Practitioner/dr2
// sr-b  Patient/pa                          Organization/orgB
// sr-c  Group/g1                            —
// sr-d  http://ext.example.org/fhir/Patient/z  Practitioner/dr1
// sr-e  —                                   Practitioner/dr2
// sr-f  Patient/pa                          Organization/orgA, Practitioner/dr2
const observations: Json[] = [
  observation('sr-a', 'static', 'Patient/pb', ['Practitioner/dr2', 'Practitioner/dr1']),
  observation('sr-b', 'static', 'Patient/pa', ['Organization/orgB']),
  observation('sr-c', 'static', 'Group/g1', []),
  observation('sr-d', 'static', EXTERNAL, ['Practitioner/dr1']),
  observation('sr-e', 'static', undefined, ['Practitioner/dr2']),
  observation('sr-f', 'static', 'Patient/pa', ['Practitioner/dr2', 'Organization/orgA']),
];

function encounter(id: string, provider: string | undefined): Json {
  const e: Json = {
    resourceType: 'Encounter',
    id,
    status: 'finished',
    class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' },
  };
  if (provider) e.serviceProvider = { reference: provider };
  return e;
}
const encounters = [
  encounter('en1', 'Organization/orgA'),
  encounter('en2', 'Organization/orgB'),
  encounter('en3', undefined),
  encounter('en4', 'Organization/orgA'),
];

const server = useServer();
beforeAll(async () => {
  await loadFixtures(server, [...targets, ...observations, ...encounters]);
});

const sorted = (query: string) => matchIds(server, query, {}, true);
const obs = (sort: string) => sorted(`/Observation?_tag=urn:sortref|static&_sort=${sort}`);

const EXPECTED: [string, string[]][] = [
  ['subject', ['sr-c', 'sr-b', 'sr-f', 'sr-a', 'sr-d', 'sr-e']],
  ['-subject', ['sr-d', 'sr-a', 'sr-b', 'sr-f', 'sr-c', 'sr-e']],
  ['performer', ['sr-f', 'sr-b', 'sr-a', 'sr-d', 'sr-e', 'sr-c']],
  ['-performer', ['sr-a', 'sr-e', 'sr-f', 'sr-d', 'sr-b', 'sr-c']],
  ['subject,-performer', ['sr-c', 'sr-f', 'sr-b', 'sr-a', 'sr-d', 'sr-e']],
  ['-performer,-subject', ['sr-a', 'sr-f', 'sr-e', 'sr-d', 'sr-b', 'sr-c']],
  ['-_lastUpdated,subject', ['sr-f', 'sr-e', 'sr-d', 'sr-c', 'sr-b', 'sr-a']],
];

describe('_sort by a reference parameter', () => {
  test.each(EXPECTED)('_sort=%s', async (sort, expected) => {
    expect(await obs(sort)).toEqual(expected);
  });
  test('Encounter?_sort=-service-provider (and ascending)', async () => {
    expect(await sorted('/Encounter?_sort=-service-provider')).toEqual(['en2', 'en1', 'en4', 'en3']);
    expect(await sorted('/Encounter?_sort=service-provider')).toEqual(['en1', 'en4', 'en2', 'en3']);
  });
  test('with criteria, across pages (every page size)', async () => {
    expect(await sorted('/Observation?_tag=urn:sortref|static&subject=Patient/pa,Patient/pb&_sort=-subject')).toEqual(['sr-a', 'sr-b', 'sr-f']);
    for (const [sort, expected] of EXPECTED) {
      for (const count of [1, 2, 4]) expect(await pages(`/Observation?_tag=urn:sortref|static&_sort=${sort}&_count=${count}`)).toEqual(expected);
    }
  });
  test('previous links walk back over the same pages', async () => {
    const forward: string[][] = [];
    let url: string | undefined = '/Observation?_tag=urn:sortref|static&_sort=-performer&_count=4';
    let last: Json | undefined;
    while (url) {
      const res: { status: number; body: Json } = await server.request('GET', url);
      forward.push((res.body.entry ?? []).map((e: Json) => e.resource.id));
      last = res.body;
      url = (res.body.link as Json[]).find((l) => l.relation === 'next')?.url;
    }
    expect(forward).toEqual([
      ['sr-a', 'sr-e', 'sr-f', 'sr-d'],
      ['sr-b', 'sr-c'],
    ]);
    const prev = (last!.link as Json[]).find((l) => l.relation === 'previous')!.url;
    expect((await server.request('GET', prev)).body.entry.map((e: Json) => e.resource.id)).toEqual(forward[0]);
  });
  test('index rows written before the sort markers existed sort the same', async () => {
    await server.pool.query("UPDATE search_reference SET smin = NULL, smax = NULL WHERE resource_type IN ('Observation', 'Encounter')");
    try {
      for (const [sort, expected] of EXPECTED) {
        expect(await obs(sort)).toEqual(expected);
        expect(await pages(`/Observation?_tag=urn:sortref|static&_sort=${sort}&_count=2`)).toEqual(expected);
      }
      expect(await sorted('/Encounter?_sort=-service-provider')).toEqual(['en2', 'en1', 'en4', 'en3']);
    } finally {
      // a write re-extracts the markers
      await loadFixtures(
        server,
        [...observations, ...encounters].map((r) => ({
          ...r,
          meta: { ...r.meta, tag: [...(r.meta?.tag ?? []), { system: 'urn:x', code: 'rewritten' }] },
        })),
      );
    }
    const { rows } = await server.pool.query(
      "SELECT count(*)::int AS n FROM search_reference WHERE resource_type IN ('Observation', 'Encounter') AND smin IS NULL",
    );
    expect(rows[0].n).toBe(0);
    expect(await obs('-performer')).toEqual(EXPECTED[3][1]);
  });
  test('sorting by a reference is listed as sortable; by a composite it is refused', async () => {
    const meta = await server.request('GET', '/metadata');
    const o = (meta.body.rest[0].resource as Json[]).find((r) => r.type === 'Observation')!;
    expect((o.searchParam as Json[]).find((p) => p.name === 'subject')!.documentation).toMatch(/sortable/);
    const res = await server.request('GET', '/Observation?_sort=code-value-quantity');
    expect(res.status).toBe(400);
    expect(res.body.issue[0].diagnostics).toMatch(/Sorting by composite parameter 'code-value-quantity' is not supported/);
  });
});

async function pages(url: string): Promise<string[]> {
  const seen: string[] = [];
  let next: string | undefined = url;
  for (let i = 0; next; i++) {
    const res: { status: number; body: Json } = await server.request('GET', next);
    expect(res.status).toBe(200);
    for (const e of (res.body.entry ?? []) as Json[]) seen.push(e.resource.id);
    next = (res.body.link as Json[]).find((l) => l.relation === 'next')?.url;
    expect(i).toBeLessThan(100);
  }
  return seen;
}

describe('keyset paging by a reference under concurrent writes', () => {
  // The sort value of the i-th resource of a run: a few subjects (or none), some of them absolute urls.
  const subjectOf = (i: number): string | undefined =>
    i % 6 === 0 ? undefined : i % 6 === 5 ? `${EXTERNAL}${i % 3}` : `Patient/${['pa', 'pb', 'pc'][i % 3]}`;
  const performersOf = (i: number): string[] =>
    i % 5 === 0 ? [] : i % 5 === 1 ? ['Practitioner/dr1', 'Organization/orgB'] : [`Practitioner/dr${1 + (i % 2)}`];
  const byteOrder = (a: string, b: string): number => Buffer.compare(Buffer.from(a), Buffer.from(b));

  test.each([
    ['subject', (i: number) => subjectOf(i), false],
    ['-subject', (i: number) => subjectOf(i), true],
    ['-performer', (i: number) => [...performersOf(i)].sort(byteOrder).at(-1), true],
    ['performer', (i: number) => [...performersOf(i)].sort(byteOrder)[0], false],
  ] as const)('_sort=%s: no skips or repeats, and in order', async (sort, keyOf, descending) => {
    const tag = `paging${sort}`;
    const keys = new Map<string, string | undefined>();
    let n = 0;
    const create = async (i: number): Promise<string> => {
      const id = `${tag.replace(/[^a-z]/gi, '')}-${n++}`;
      await loadFixtures(server, [observation(id, tag, subjectOf(i), performersOf(i))]);
      keys.set(id, keyOf(i));
      return id;
    };
    const initial: string[] = [];
    for (let i = 0; i < 30; i++) initial.push(await create(i));
    const deletedUnseen = new Set<string>();
    const seen: string[] = [];
    let next: string | undefined = `/Observation?_tag=urn:sortref|${tag}&_sort=${sort}&_count=4`;
    for (let page = 0; next; page++) {
      const res: { status: number; body: Json } = await server.request('GET', next);
      expect(res.status).toBe(200);
      for (const e of (res.body.entry ?? []) as Json[]) seen.push(e.resource.id);
      next = (res.body.link as Json[]).find((l) => l.relation === 'next')?.url;
      if (!next) break;
      // new resources sorting before and after the cursor; one seen and one unseen resource deleted
      for (let k = 0; k < 3; k++) await create(page * 7 + k * 11);
      await server.request('DELETE', `/Observation/${seen[seen.length - 2]}`);
      const unseen = initial.find((id) => !seen.includes(id) && !deletedUnseen.has(id));
      if (unseen && page % 2 === 0) {
        deletedUnseen.add(unseen);
        await server.request('DELETE', `/Observation/${unseen}`);
      }
      expect(page).toBeLessThan(100);
    }
    expect(new Set(seen).size).toBe(seen.length); // no repeats
    for (const id of initial) if (!deletedUnseen.has(id)) expect(seen).toContain(id); // no skips
    // in order: sort value (resources without one last), then id
    const rank = (id: string): [number, string, string] => {
      const k = keys.get(id);
      return k === undefined ? [1, '', id] : [0, k, id];
    };
    for (let i = 1; i < seen.length; i++) {
      const [ma, ka, ia] = rank(seen[i - 1]);
      const [mb, kb, ib] = rank(seen[i]);
      const cmp = ma !== mb ? ma - mb : ka !== kb ? (descending ? -1 : 1) * byteOrder(ka, kb) : ia < ib ? -1 : 1;
      expect(cmp).toBeLessThan(0);
    }
  });
});
