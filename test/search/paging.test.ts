/**
 * Result control (search.html#count, #sort, #total, #summary, #elements): keyset paging that never skips or
 * repeats a resource while others are created or deleted between page fetches (for the default order, a single
 * sort key with resources lacking it, and several keys), previous links, _sort, _total, _summary, _elements.
 */
import { useServer, type Json } from '../harness';

const server = useServer();

let serial = 0;
async function createPatient(family: string | undefined, birthDate: string | undefined, tag: string): Promise<string> {
  const body: Json = { resourceType: 'Patient', meta: { tag: [{ system: 'urn:paging', code: tag }] } };
  if (family) body.name = [{ family, given: [`G${serial++}`] }];
  if (birthDate) body.birthDate = birthDate;
  const res = await server.request('POST', '/Patient', { body });
  expect(res.status).toBe(201);
  return res.body.id as string;
}

function day(i: number): string {
  return new Date(Date.UTC(1950, 0, 1) + i * 86400000 * 97).toISOString().slice(0, 10);
}

async function fetchAll(url: string, between?: (page: number, seen: string[]) => Promise<void>): Promise<string[]> {
  const seen: string[] = [];
  let next: string | undefined = url;
  let page = 0;
  while (next) {
    const res: { status: number; body: Json } = await server.request('GET', next);
    expect(res.status).toBe(200);
    for (const e of (res.body.entry ?? []) as Json[]) if (e.search.mode === 'match') seen.push(e.resource.id);
    next = (res.body.link as Json[]).find((l) => l.relation === 'next')?.url;
    if (between && next) await between(page++, seen);
    expect(page).toBeLessThan(100);
  }
  return seen;
}

/** Pages through `query` while creating and deleting resources between pages; checks nothing skips or repeats. */
async function pagingGuarantee(tag: string, query: string, withValue: (i: number) => [string | undefined, string | undefined]): Promise<void> {
  const initial: string[] = [];
  for (let i = 0; i < 40; i++) initial.push(await createPatient(...withValue(i), tag));
  const deletedUnseen = new Set<string>();
  let n = 1000;
  const seen = await fetchAll(`/Patient?_tag=urn:paging|${tag}&_count=7&${query}`, async (page, soFar) => {
    // insert new resources, some sorting before the cursor, some after
    for (let k = 0; k < 3; k++) await createPatient(...withValue((n += 13) % 40), tag);
    // delete one already seen and one not yet seen
    const seenOne = soFar[soFar.length - 2];
    await server.request('DELETE', `/Patient/${seenOne}`);
    const unseen = initial.find((id) => !soFar.includes(id) && !deletedUnseen.has(id));
    if (unseen && page % 2 === 0) {
      deletedUnseen.add(unseen);
      await server.request('DELETE', `/Patient/${unseen}`);
    }
  });
  expect(new Set(seen).size).toBe(seen.length); // no repeats
  const expected = initial.filter((id) => !deletedUnseen.has(id));
  for (const id of expected) expect(seen).toContain(id); // no skips
}

describe('paging', () => {
  test('default order: no skips or repeats while resources are created and deleted', async () => {
    await pagingGuarantee('default', '', (i) => [`Fam${i}`, day(i)]);
  });
  test('_sort=-birthdate (index walk) with resources lacking the value', async () => {
    await pagingGuarantee('date', '_sort=-birthdate', (i) => [`Fam${i}`, i % 5 === 0 ? undefined : day(i % 17)]);
  });
  test('multi-key _sort=family,-birthdate', async () => {
    await pagingGuarantee('multi', '_sort=family,-birthdate', (i) => [i % 7 === 0 ? undefined : `F${i % 4}`, day(i % 9)]);
  });
  test.each([
    ['_sort=family', '&_sort=family'],
    ['the default order (id, from the index rows)', ''],
  ])('previous links walk back over the same pages: %s', async (_what, sort) => {
    const tag = sort ? 'back' : 'back-default';
    for (let i = 0; i < 12; i++) await createPatient(`Back${i % 5}`, day(i), tag);
    const forward: string[][] = [];
    let url: string | undefined = `/Patient?_tag=urn:paging|${tag}&_count=5${sort}`;
    let last: Json | undefined;
    while (url) {
      const res: { status: number; body: Json } = await server.request('GET', url);
      forward.push((res.body.entry ?? []).map((e: Json) => e.resource.id));
      last = res.body;
      url = (res.body.link as Json[]).find((l) => l.relation === 'next')?.url;
    }
    expect(forward.map((p) => p.length)).toEqual([5, 5, 2]);
    const backward: string[][] = [forward[forward.length - 1]];
    let prev = (last!.link as Json[]).find((l) => l.relation === 'previous')?.url;
    while (prev) {
      const res = await server.request('GET', prev);
      backward.unshift(res.body.entry.map((e: Json) => e.resource.id));
      prev = (res.body.link as Json[]).find((l) => l.relation === 'previous')?.url;
    }
    expect(backward).toEqual(forward);
  });
  test('a corrupt cursor is a 400', async () => {
    expect((await server.request('GET', '/Patient?_cursor=garbage')).status).toBe(400);
  });
});

describe('_sort, _count, _total, _summary, _elements', () => {
  beforeAll(async () => {
    const people: [string, string | undefined][] = [
      ['Zed', '2001-01-01'],
      ['Adams', '1999-05-05'],
      ['Müller', undefined],
      ['Baker', '1999-05-05'],
      ['Young', '1960-02-02'],
    ];
    for (const [f, b] of people) await createPatient(f, b, 'sort');
  });
  const families = async (query: string): Promise<string[]> => {
    const res = await server.request('GET', `/Patient?_tag=urn:paging|sort&${query}`);
    expect(res.status).toBe(200);
    return res.body.entry.map((e: Json) => e.resource.name?.[0]?.family ?? '-');
  };
  test('sort ascending, descending, multi-key, missing values last', async () => {
    expect(await families('_sort=family')).toEqual(['Adams', 'Baker', 'Müller', 'Young', 'Zed']);
    expect(await families('_sort=-family')).toEqual(['Zed', 'Young', 'Müller', 'Baker', 'Adams']);
    // Adams and Baker share a birth date: the tie is broken by id (stable, but arbitrary)
    const tie = (list: string[]) => [list[0], [list[1], list[2]].sort().join('='), ...list.slice(3)];
    expect(tie(await families('_sort=birthdate'))).toEqual(['Young', 'Adams=Baker', 'Zed', 'Müller']);
    expect(tie(await families('_sort=-birthdate'))).toEqual(['Zed', 'Adams=Baker', 'Young', 'Müller']);
    expect(await families('_sort=-birthdate,-family')).toEqual(['Zed', 'Baker', 'Adams', 'Young', 'Müller']);
    expect(await families('_sort=gender,family')).toEqual(['Adams', 'Baker', 'Müller', 'Young', 'Zed']);
    const byLastUpdated = await families('_sort=-_lastUpdated');
    expect(byLastUpdated).toEqual(['Young', 'Baker', 'Müller', 'Adams', 'Zed']);
  });
  test('_count caps the page; _total none/estimate/accurate; _summary=count', async () => {
    const res = await server.request('GET', '/Patient?_tag=urn:paging|sort&_count=2&_sort=family');
    expect(res.body.entry).toHaveLength(2);
    expect(res.body.total).toBeUndefined(); // by default only when the first page holds every match
    const accurate = await server.request('GET', '/Patient?_tag=urn:paging|sort&_count=2&_sort=family&_total=accurate');
    expect(accurate.body.total).toBe(5);
    expect((await server.request('GET', '/Patient?_tag=urn:paging|sort&_count=5')).body.total).toBe(5);
    const none = await server.request('GET', '/Patient?_tag=urn:paging|sort&_count=2&_total=none');
    expect(none.body.total).toBeUndefined();
    const estimate = await server.request('GET', '/Patient?_tag=urn:paging|sort&_count=2&_total=estimate');
    expect(typeof estimate.body.total).toBe('number');
    const count = await server.request('GET', '/Patient?_tag=urn:paging|sort&_summary=count');
    expect(count.body.total).toBe(5);
    expect(count.body.entry).toBeUndefined();
    const zero = await server.request('GET', '/Patient?_tag=urn:paging|sort&_count=0');
    expect(zero.body.total).toBe(5);
    expect(zero.body.entry).toBeUndefined();
    const empty = await server.request('GET', '/Patient?family=nobody-at-all');
    expect(empty.body.total).toBe(0);
  });
  test('_summary and _elements subset the entries (SUBSETTED tag)', async () => {
    const summary = await server.request('GET', '/Patient?_tag=urn:paging|sort&family=zed&_summary=true');
    const r = summary.body.entry[0].resource;
    expect(r.name[0].family).toBe('Zed');
    expect(r.meta.tag.some((t: Json) => t.code === 'SUBSETTED')).toBe(true);
    const elements = await server.request('GET', '/Patient?_tag=urn:paging|sort&family=zed&_elements=birthDate');
    const e = elements.body.entry[0].resource;
    expect(e.birthDate).toBe('2001-01-01');
    expect(e.name).toBeUndefined();
    const data = await server.request('GET', '/Patient?_tag=urn:paging|sort&family=zed&_summary=data');
    expect(data.body.entry[0].resource.name[0].family).toBe('Zed');
    const full = await server.request('GET', '/Patient?_tag=urn:paging|sort&family=zed&_summary=false');
    expect(full.body.entry[0].resource.meta.tag.some((t: Json) => t.code === 'SUBSETTED')).toBe(false);
  });
});
