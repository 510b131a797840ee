/**
 * Access predicates (issue 3 item 8), at the repository level: a restriction given by the caller — a patient
 * compartment and/or a set of resource types — applies inside the search SQL to the matches and to every
 * `_include`, `_revinclude`, chain, `_has` and `_list` path alike, so nothing outside it is ever read, counted or
 * used to decide a match (no post-filtering: totals and pages agree).
 */
import { useServer } from '../harness';
import type { Caller } from '../../server/repository/caller';
import { uniformAccess, type AccessRule } from '../../server/repository/search/compile/access';
import { parseSearch } from '../../server/fhir/search/parse';
import { Repository } from '../../server/repository/repository';
import { loadFixtures } from './fixtures';

let repo: Repository;
const server = useServer();
beforeAll(async () => {
  await loadFixtures(server);
  repo = new Repository(server.pool, { referentialIntegrity: true, baseUrl: server.base, timeZone: 'UTC' });
});

async function search(type: string, query: string, restriction?: AccessRule): Promise<{ matches: string[]; includes: string[]; total?: number }> {
  const parsed = parseSearch([type], [...new URLSearchParams(query)], { timeZone: 'UTC', baseUrl: server.base });
  const c = parsed.controls;
  const r = await repo.searchResources(
    { actor: { kind: 'anonymous' }, access: restriction && uniformAccess(restriction) },
    {
      types: [type],
      criteria: parsed.criteria,
      sort: c.sort,
      count: c.count ?? 50,
      cursor: c.cursor,
      include: c.include,
      total: 'accurate',
    },
  );
  const ref = (x: { resourceType: string; id: string }) => `${x.resourceType}/${x.id}`;
  return { matches: r.matches.map(ref).sort(), includes: r.includes.map(ref).sort(), total: r.total };
}

const p1: AccessRule = { compartment: { type: 'Patient', id: 'p1' } };

test('matches: only resources in the compartment, and totals count only those', async () => {
  expect(await search('Observation', '')).toMatchObject({ total: 6 });
  expect(await search('Observation', '', p1)).toEqual({ matches: ['Observation/o1', 'Observation/o2'], includes: [], total: 2 });
  expect((await search('Patient', '', p1)).matches).toEqual(['Patient/p1']);
  expect((await search('Encounter', '', p1)).matches).toEqual(['Encounter/e1']);
  // a type outside the compartment definition is invisible unless shared
  expect((await search('Organization', '', p1)).matches).toEqual([]);
  expect((await search('Organization', '', { compartment: { type: 'Patient', id: 'p1', sharedTypes: ['Organization'] } })).matches).toEqual([
    'Organization/org1',
    'Organization/org2',
  ]);
});

test('resource type restriction', async () => {
  // no rule for the searched type: refused (403) rather than an empty page
  await expect(search('Observation', '', { resourceTypes: ['Patient'] })).rejects.toMatchObject({ status: 403 });
  expect((await search('Patient', '_revinclude=Observation:subject&_id=p1', { resourceTypes: ['Patient'] })).includes).toEqual([]);
  expect((await search('Patient', '_revinclude=Observation:subject&_id=p1', { resourceTypes: ['Patient', 'Observation'] })).includes).toEqual([
    'Observation/o1',
    'Observation/o2',
  ]);
});

test('_include and _revinclude never reach outside the restriction', async () => {
  const all = await search('Observation', '_include=Observation:subject&_include=Observation:encounter');
  expect(all.includes).toEqual(['Encounter/e1', 'Patient/p1', 'Patient/p2', 'Patient/p3']);
  const restricted = await search('Observation', '_include=Observation:subject&_include=Observation:encounter', p1);
  expect(restricted.includes).toEqual(['Encounter/e1', 'Patient/p1']);
  const rev = await search('Patient', '_revinclude=Observation:subject&_revinclude:iterate=Encounter:subject', {
    compartment: { type: 'Patient', id: 'p2' },
  });
  expect(rev).toEqual({ matches: ['Patient/p2'], includes: ['Encounter/e2', 'Observation/o3', 'Observation/o4'], total: 1 });
  // iterate through an organisation (shared) back to patients: only the permitted one comes back
  const it = await search('Encounter', '_include=Encounter:service-provider&_revinclude:iterate=Patient:organization', {
    compartment: { type: 'Patient', id: 'p1', sharedTypes: ['Organization'] },
  });
  expect(it.matches).toEqual(['Encounter/e1']);
  expect(it.includes).toEqual(['Organization/org1', 'Patient/p1']);
});

test('chains and _has cannot match through resources outside the restriction', async () => {
  // Observation o3/o4 belong to p2; within p1's compartment a chain through p2's data finds nothing
  expect((await search('Observation', 'subject:Patient.gender=male')).matches).toEqual(['Observation/o3', 'Observation/o4']);
  expect((await search('Observation', 'subject:Patient.gender=male', p1)).matches).toEqual([]);
  // chain through a resource type outside the compartment: Organization is not visible unless shared
  expect((await search('Patient', 'organization.name=ruby', p1)).matches).toEqual([]);
  expect(
    (await search('Patient', 'organization.name=ruby', { compartment: { type: 'Patient', id: 'p1', sharedTypes: ['Organization'] } })).matches,
  ).toEqual(['Patient/p1']);
  // _has: organisations of patients with a systolic pressure > 130 (p2's o4) — invisible from p1's compartment
  const has = '_has:Patient:organization:_has:Observation:subject:value-quantity=gt130';
  expect((await search('Organization', has)).matches).toEqual(['Organization/org2']);
  expect((await search('Organization', has, { compartment: { type: 'Patient', id: 'p1', sharedTypes: ['Organization'] } })).matches).toEqual([]);
  expect((await search('Patient', '_has:Observation:subject:code=8480-6', { resourceTypes: ['Patient'] })).matches).toEqual([]);
});

test('_list respects the restriction on the list itself', async () => {
  expect((await search('Observation', '_list=l1')).matches).toEqual(['Observation/o1', 'Observation/o3']);
  expect((await search('Observation', '_list=l1', { resourceTypes: ['Observation'] })).matches).toEqual([]);
});

test('paging and totals agree under a restriction (no post-filtering)', async () => {
  const page1 = await repo.searchResources(
    { actor: { kind: 'anonymous' }, access: uniformAccess(p1) },
    {
      types: ['Observation'],
      criteria: [],
      sort: [],
      count: 1,
      include: [],
      total: 'accurate',
    },
  );
  expect(page1.total).toBe(2);
  expect(page1.matches).toHaveLength(1);
  const page2 = await repo.searchResources(
    { actor: { kind: 'anonymous' }, access: uniformAccess(p1) },
    { types: ['Observation'], criteria: [], sort: [], count: 1, cursor: page1.next, include: [], total: 'none' },
  );
  expect(page2.matches).toHaveLength(1);
  expect(page2.next).toBeUndefined();
  expect([page1.matches[0].id, page2.matches[0].id].sort()).toEqual(['o1', 'o2']);
});

describe('the rest of the read path honours the restriction inside its SQL', () => {
  const as = (access?: AccessRule): Caller => ({ actor: { kind: 'anonymous' }, access: access && uniformAccess(access) });
  const refs = (xs: { resourceType: string; id: string }[]): string[] => xs.map((x) => `${x.resourceType}/${x.id}`).sort();

  test('read and vread: outside the restriction is 404', async () => {
    expect((await repo.read(as(p1), 'Observation', 'o1')).id).toBe('o1');
    await expect(repo.read(as(p1), 'Observation', 'o3')).rejects.toMatchObject({ status: 404 });
    await expect(repo.vread(as(p1), 'Observation', 'o3', '1')).rejects.toMatchObject({ status: 404 });
    expect((await repo.vread(as(p1), 'Observation', 'o1', '1')).versionId).toBe(1);
    // no rule for the type at all: the token lacks the scope (403), rather than the resource being hidden
    await expect(repo.read(as({ resourceTypes: ['Patient'] }), 'Observation', 'o1')).rejects.toMatchObject({ status: 403 });
  });

  test('history: only versions of visible resources, counted and paged alike', async () => {
    const all = await repo.history(as(), { resourceType: 'Observation', count: 100 });
    expect(all.entries.map((e) => e.id)).toEqual(expect.arrayContaining(['o1', 'o2', 'o3', 'o4']));
    const first = await repo.history(as(p1), { resourceType: 'Observation', count: 1 });
    expect(first.entries).toHaveLength(1);
    const second = await repo.history(as(p1), { resourceType: 'Observation', count: 1, cursor: first.next });
    expect(second.next).toBeUndefined();
    expect(refs([...first.entries, ...second.entries])).toEqual(['Observation/o1', 'Observation/o2']);
    const system = await repo.history(as(p1), { count: 100 });
    expect([...new Set(refs(system.entries))]).toEqual(['Encounter/e1', 'Observation/o1', 'Observation/o2', 'Patient/p1', 'RiskAssessment/ra1']);
    // an instance outside the restriction has no visible version: total 0 (the REST layer's 404)
    expect((await repo.history(as(p1), { resourceType: 'Patient', id: 'p2', count: 10 })).total).toBe(0);
    expect((await repo.history(as(p1), { resourceType: 'Patient', id: 'p1', count: 10 })).total).toBe(1);
  });

  test('$everything: the compartment and what it references, within the restriction', async () => {
    const all = await repo.everything(as(), { compartment: 'Patient', id: 'p1', count: 100 });
    expect(refs(all.entries)).toEqual(expect.arrayContaining(['Organization/org1', 'Practitioner/dr1', 'Observation/o1', 'Patient/p1']));
    const restricted = await repo.everything(as(p1), { compartment: 'Patient', id: 'p1', count: 100 });
    expect(refs(restricted.entries)).toEqual(['Encounter/e1', 'Observation/o1', 'Observation/o2', 'Patient/p1', 'RiskAssessment/ra1']);
    expect(restricted.total).toBe(5);
    const shared = await repo.everything(as({ compartment: { type: 'Patient', id: 'p1', sharedTypes: ['Organization'] } }), {
      compartment: 'Patient',
      id: 'p1',
      count: 2,
    });
    expect(shared.total).toBe(6);
    expect(shared.entries).toHaveLength(2);
    expect(shared.next).toBeDefined();
    const other = await repo.everything(as(p1), { compartment: 'Patient', id: 'p2', count: 100 });
    expect(other).toEqual({ entries: [], total: 0 });
  });

  test('referrers ($validate mode=delete): only visible ones are named', async () => {
    expect(await repo.referrers(as(), 'Organization', 'org1', 20)).toEqual({
      named: ['Encounter/e1', 'Organization/org2', 'Patient/p1'],
      hidden: false,
      more: false,
    });
    expect(await repo.referrers(as(p1), 'Organization', 'org1', 20)).toEqual({ named: ['Encounter/e1', 'Patient/p1'], hidden: true, more: false });
    expect(await repo.referrers(as(), 'Organization', 'org1', 1)).toMatchObject({ named: ['Encounter/e1'], more: true });
  });
});
