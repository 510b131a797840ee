/**
 * Chaining, reverse chaining (_has), _include/_revinclude (:iterate, *), system search, compartment search, and
 * POST _search equivalence (search.html#chaining, #has, #include, #revinclude, http.html#search,
 * search.html#compartments), over the hand-made fixtures.
 */
import { useServer, type Json } from '../harness';
import { NHID, loadFixtures, matchIds } from './fixtures';

const server = useServer({ setup: loadFixtures });

const q = (query: string) => matchIds(server, query);
const enc = encodeURIComponent;

async function entries(query: string): Promise<{ match: string[]; include: string[]; body: Json }> {
  const res = await server.request('GET', query);
  expect(res.status).toBe(200);
  const e = (res.body.entry ?? []) as Json[];
  const ref = (x: Json) => `${x.resource.resourceType}/${x.resource.id}`;
  return {
    match: e
      .filter((x) => x.search.mode === 'match')
      .map(ref)
      .sort(),
    include: e
      .filter((x) => x.search.mode === 'include')
      .map(ref)
      .sort(),
    body: res.body,
  };
}

describe('chaining', () => {
  test('one level, with and without the target type', async () => {
    expect(await q(`/Encounter?subject:Patient.identifier=${enc(`${NHID}|91-1234-5678-9012`)}`)).toEqual(['e1']);
    expect(await q(`/Encounter?patient.identifier=${enc(`${NHID}|22722548295255`)}`)).toEqual(['e2']);
    expect(await q('/Observation?subject.name=müller')).toEqual(['o1', 'o2']);
    expect(await q('/Observation?subject:Patient.gender=male')).toEqual(['o3', 'o4']);
    expect(await q('/Observation?subject.birthdate=lt1980')).toEqual(['o3', 'o4']);
  });
  test('several levels', async () => {
    expect(await q('/Observation?subject:Patient.organization.name=ruby')).toEqual(['o1', 'o2']);
    expect(await q('/Observation?encounter.service-provider.name=ruby')).toEqual(['o1']);
    expect(await q('/Encounter?service-provider.partof.name=ruby')).toEqual(['e2']);
  });
  test('errors: unknown chained parameter, non-reference head', async () => {
    expect((await server.request('GET', '/Observation?subject.nonsense=1')).status).toBe(400);
    expect((await server.request('GET', '/Observation?status.name=x')).status).toBe(400);
  });
});

describe('_has', () => {
  test('reverse chaining, nested', async () => {
    expect(await q('/Patient?_has:Observation:patient:code=8480-6')).toEqual(['p1', 'p2']);
    expect(await q('/Patient?_has:Observation:subject:value-quantity=gt130')).toEqual(['p2']);
    expect(await q('/Patient?_has:Encounter:subject:class=AMB')).toEqual(['p1']);
    expect(await q('/Encounter?_has:Observation:encounter:code=8480-6')).toEqual(['e1']);
    // nested: organisations managing a patient who has a systolic blood pressure over 130
    expect(await q('/Organization?_has:Patient:organization:_has:Observation:subject:value-quantity=gt130')).toEqual(['org2']);
  });
});

describe('_include and _revinclude', () => {
  test('_include marks included resources', async () => {
    const r = await entries('/Encounter?_id=e1&_include=Encounter:subject&_include=Encounter:service-provider');
    expect(r.match).toEqual(['Encounter/e1']);
    expect(r.include).toEqual(['Organization/org1', 'Patient/p1']);
    expect(r.body.total).toBe(1);
  });
  test('_include with a target type, and *', async () => {
    expect((await entries('/Encounter?_id=e1&_include=Encounter:participant:Practitioner')).include).toEqual(['Practitioner/dr1']);
    expect((await entries('/Encounter?_id=e1&_include=Encounter:participant:Patient')).include).toEqual([]);
    expect((await entries('/Encounter?_id=e1&_include=*')).include).toEqual(['Organization/org1', 'Patient/p1', 'Practitioner/dr1']);
  });
  test('_revinclude', async () => {
    const r = await entries('/Patient?_id=p1&_revinclude=Observation:subject&_revinclude=Encounter:subject');
    expect(r.match).toEqual(['Patient/p1']);
    expect(r.include).toEqual(['Encounter/e1', 'Observation/o1', 'Observation/o2']);
  });
  test(':iterate follows included resources', async () => {
    const r = await entries(
      '/Observation?_id=o3&_include=Observation:subject&_include:iterate=Patient:organization&_include:iterate=Organization:partof',
    );
    expect(r.include).toEqual(['Organization/org1', 'Organization/org2', 'Patient/p2']);
    const rev = await entries('/Organization?_id=org1&_revinclude=Patient:organization&_revinclude:iterate=Observation:subject');
    expect(rev.include).toEqual(['Observation/o1', 'Observation/o2', 'Patient/p1']);
  });
  test('invalid include specifications are 400', async () => {
    expect((await server.request('GET', '/Encounter?_include=Encounter:status')).status).toBe(400);
    expect((await server.request('GET', '/Encounter?_include=Nope:subject')).status).toBe(400);
  });
});

describe('entry points', () => {
  test('POST _search with a form body gives the same result as GET', async () => {
    const query = `family=mu&_sort=family&_count=1`;
    const get = await server.request('GET', `/Patient?${query}`);
    const post = await server.request('POST', '/Patient/_search', { body: query, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(post.status).toBe(200);
    const strip = (b: Json) => ({ ...b, id: undefined });
    expect(strip(post.body)).toEqual(strip(get.body));
    // query-string and body parameters combine
    const mixed = await server.request('POST', '/Patient/_search?family=mu', {
      body: 'gender=male',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(mixed.body.entry.map((e: Json) => e.resource.id)).toEqual(['p2']);
  });
  test('system search with _type', async () => {
    const r = await entries('/?_type=Patient,Practitioner&name=r');
    expect(r.match).toEqual(['Practitioner/dr1']);
    const all = await entries('/?_id=p1,e1,org1');
    expect(all.match).toEqual(['Encounter/e1', 'Organization/org1', 'Patient/p1']);
    const tagged = await entries('/?_tag=urn:tags|vip');
    expect(tagged.match).toEqual(['Patient/p1']);
    const post = await server.request('POST', '/_search', {
      body: '_type=Observation&code=8480-6',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(post.status).toBe(200);
    expect(post.body.entry.map((e: Json) => e.resource.id).sort()).toEqual(['o1', 'o4']);
    expect((await server.request('GET', '/?_type=Patient,Observation&gender=male')).status).toBe(400); // not common to both
  });
  test('compartment search per the Patient CompartmentDefinition', async () => {
    expect(await q('/Patient/p1/Observation')).toEqual(['o1', 'o2']);
    expect(await q('/Patient/p1/Observation?code=29463-7')).toEqual(['o2']);
    expect(await q('/Patient/p2/Encounter')).toEqual(['e2']);
    expect(await q('/Patient/p1/RiskAssessment')).toEqual(['ra1']);
    expect(await q('/Patient/p1/Patient')).toEqual(['p1']);
    expect((await server.request('GET', '/Patient/p1/Organization')).status).toBe(400);
    const links = (await server.request('GET', '/Patient/p1/Observation?_count=1')).body.link as Json[];
    expect(links.find((l) => l.relation === 'next')?.url).toContain('/Patient/p1/Observation?');
  });
});
