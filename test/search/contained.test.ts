/**
 * Contained resources (search.html#contained): `_contained=true|false|both` and `_containedType=container|contained`.
 * The HMS cases: a prescription (MedicationRequest) carrying its own Medication (a compounded or unlisted drug),
 * and lab Observations recorded for walk-in patients carried as contained Patients. Every expected result set is
 * computed by hand from the resources below; the index rows of contained resources must follow their container's
 * updates and deletion, never show in a normal search, and every refused combination is a 400 naming its parameter.
 */
import { useServer, type Json } from '../harness';
import { uniformAccess, type AccessRule } from '../../server/repository/search/compile/access';
import { parseSearch } from '../../server/fhir/search/parse';
import { Repository } from '../../server/repository/repository';
import { NHID, loadFixtures } from './fixtures';

const SNOMED = 'http://snomed.info/sct';
const LOINC = 'http://loinc.org';
const PARACETAMOL = { coding: [{ system: SNOMED, code: '387517004', display: 'Paracetamol' }], text: 'Paracetamol 500 mg tablet' };
const AMOXICILLIN = { coding: [{ system: SNOMED, code: '372687004', display: 'Amoxicillin' }], text: 'Amoxicillin 250 mg/5 mL syrup' };
const GLUCOSE = { coding: [{ system: LOINC, code: '2339-0', display: 'Glucose [Mass/volume] in Blood' }] };
const HBA1C = { coding: [{ system: LOINC, code: '4548-4', display: 'Hemoglobin A1c/Hemoglobin.total in Blood' }] };

const anita: Json = {
  resourceType: 'Patient',
  id: 'anita',
  identifier: [{ system: NHID, value: '91-4417-2345-6789' }],
  name: [{ family: 'Deshpande', given: ['Anita'] }],
  gender: 'female',
  birthDate: '1985-04-12',
};
const meera: Json = {
  resourceType: 'Patient',
  id: 'meera',
  name: [{ family: 'Kulkarni', given: ['Meera'] }],
  gender: 'female',
  birthDate: '1992-11-03',
};

/** A stocked drug, and three prescriptions: two with a contained Medication (both local id `med1`), one without. */
const paracetamol: Json = { resourceType: 'Medication', id: 'paracetamol', code: PARACETAMOL, form: { text: 'tablet' } };
const mr1: Json = {
  resourceType: 'MedicationRequest',
  id: 'mr1',
  contained: [{ resourceType: 'Medication', id: 'med1', code: PARACETAMOL, form: { text: 'tablet' }, batch: { lotNumber: 'PCM-2406' } }],
  status: 'active',
  intent: 'order',
  medicationReference: { reference: '#med1' },
  subject: { reference: 'Patient/anita' },
  authoredOn: '2024-06-01',
};
const mr2: Json = {
  resourceType: 'MedicationRequest',
  id: 'mr2',
  contained: [{ resourceType: 'Medication', id: 'med1', code: AMOXICILLIN, form: { text: 'syrup' } }],
  status: 'active',
  intent: 'order',
  medicationReference: { reference: '#med1' },
  subject: { reference: 'Patient/anita' },
  authoredOn: '2024-06-02',
};
const mr3: Json = {
  resourceType: 'MedicationRequest',
  id: 'mr3',
  status: 'active',
  intent: 'order',
  medicationReference: { reference: 'Medication/paracetamol' },
  subject: { reference: 'Patient/anita' },
};

/** Walk-in lab results: one contained Patient; a child's result with the child and the mother who gave the sample. */
const walkin: Json = {
  resourceType: 'Observation',
  id: 'walkin',
  contained: [{ resourceType: 'Patient', id: 'pt', name: [{ family: 'Kulkarni', given: ['Ravi'] }], gender: 'male', birthDate: '1978-02-20' }],
  status: 'final',
  code: GLUCOSE,
  subject: { reference: '#pt' },
  valueQuantity: { value: 142, unit: 'mg/dL', system: 'http://unitsofmeasure.org', code: 'mg/dL' },
};
const family: Json = {
  resourceType: 'Observation',
  id: 'family',
  contained: [
    { resourceType: 'Patient', id: 'child', name: [{ family: 'Kulkarni', given: ['Aarav'] }], gender: 'male', birthDate: '2019-08-15' },
    { resourceType: 'Patient', id: 'mother', name: [{ family: 'Kulkarni', given: ['Sunita'] }], gender: 'female', birthDate: '1988-01-30' },
  ],
  status: 'final',
  code: HBA1C,
  subject: { reference: '#child' },
  performer: [{ reference: '#mother' }],
  valueQuantity: { value: 5.4, unit: '%', system: 'http://unitsofmeasure.org', code: '%' },
};

let repo: Repository;
const server = useServer();
beforeAll(async () => {
  await loadFixtures(server, [anita, meera, paracetamol, mr1, mr2, mr3, walkin, family]);
  repo = new Repository(server.pool, { referentialIntegrity: true, baseUrl: server.base, timeZone: 'UTC' });
});

/** Each match entry as `fullUrl` relative to the base (search.mode must be match), in the order served. */
async function matches(query: string): Promise<string[]> {
  const res = await server.request('GET', query);
  if (res.status !== 200) throw new Error(`GET ${query}: ${res.status} ${res.text}`);
  const entries = (res.body.entry ?? []) as Json[];
  for (const e of entries) expect(e.search).toEqual({ mode: 'match' });
  return entries.map((e) => (e.fullUrl as string).slice(server.base.length + 1));
}

const paraCode = `code=${SNOMED}|387517004`;

test('_contained absent or false: contained resources never match', async () => {
  expect(await matches(`/Medication?${paraCode}`)).toEqual(['Medication/paracetamol']);
  expect(await matches(`/Medication?${paraCode}&_contained=false`)).toEqual(['Medication/paracetamol']);
  expect(await matches('/Medication')).toEqual(['Medication/paracetamol']);
  expect(await matches('/Patient?name=kulkarni')).toEqual(['Patient/meera']);
  expect(await matches('/Patient?gender=male')).toEqual([]);
  expect(await matches('/Patient?_id=pt,child,mother')).toEqual([]);
  const all = await server.request('GET', '/Patient?_total=accurate');
  expect(all.body.total).toBe(2);
  // the containers' own criteria are unchanged
  expect(await matches(`/MedicationRequest?subject=Patient/anita&_contained=false`)).toEqual([
    'MedicationRequest/mr1',
    'MedicationRequest/mr2',
    'MedicationRequest/mr3',
  ]);
});

test('_contained=true: the containers of matching contained resources, each once', async () => {
  expect(await matches(`/Medication?${paraCode}&_contained=true`)).toEqual(['MedicationRequest/mr1']);
  expect(await matches(`/Medication?${paraCode}&_contained=true&_containedType=container`)).toEqual(['MedicationRequest/mr1']);
  expect(await matches('/Medication?_contained=true')).toEqual(['MedicationRequest/mr1', 'MedicationRequest/mr2']);
  expect(await matches('/Medication?code:text=amox&_contained=true')).toEqual(['MedicationRequest/mr2']);
  // family holds two matching Patients: listed once
  expect(await matches('/Patient?name=kulkarni&_contained=true')).toEqual(['Observation/family', 'Observation/walkin']);
  // every criterion holds for the same contained resource: no contained Patient is both Aarav and female
  expect(await matches('/Patient?name=aarav&gender=female&_contained=true')).toEqual([]);
  expect(await matches('/Patient?name=aarav&gender=male&_contained=true')).toEqual(['Observation/family']);
  expect(await matches('/Patient?birthdate=lt1990&_contained=true')).toEqual(['Observation/family', 'Observation/walkin']);
  expect(await matches('/Patient?birthdate=ge2000&_contained=true')).toEqual(['Observation/family']);
  expect(await matches('/Patient?_id=pt&_contained=true')).toEqual(['Observation/walkin']);
  expect(await matches('/Patient?_id=meera&_contained=true')).toEqual([]);
  expect(await matches('/Patient?name:missing=true&_contained=true')).toEqual([]);
  expect(await matches('/Patient?_content=sunita&_contained=true')).toEqual(['Observation/family']);
  expect(await matches('/Patient?_lastUpdated=gt2000-01-01&gender=male&_contained=true')).toEqual(['Observation/family', 'Observation/walkin']);
  expect(await matches('/Patient?_lastUpdated=lt2000-01-01&_contained=true')).toEqual([]);
});

test('_containedType=contained: the contained resources themselves, fullUrl [container]#[id]', async () => {
  const res = await server.request('GET', `/Medication?${paraCode}&_contained=true&_containedType=contained`);
  expect(res.status).toBe(200);
  expect(res.body.entry).toEqual([{ fullUrl: `${server.base}/MedicationRequest/mr1#med1`, resource: mr1.contained[0], search: { mode: 'match' } }]);
  expect(res.body.total).toBe(1);
  expect(await matches('/Medication?_contained=true&_containedType=contained')).toEqual(['MedicationRequest/mr1#med1', 'MedicationRequest/mr2#med1']);
  // ordered by container, then type and local id
  expect(await matches('/Patient?name=kulkarni&_contained=true&_containedType=contained')).toEqual([
    'Observation/family#child',
    'Observation/family#mother',
    'Observation/walkin#pt',
  ]);
  expect(await matches('/Patient?name=kulkarni&gender=female&_contained=true&_containedType=contained')).toEqual(['Observation/family#mother']);
  const mother = await server.request('GET', '/Patient?_id=mother&_contained=true&_containedType=contained&_elements=name');
  expect(mother.body.entry[0].resource).toMatchObject({ resourceType: 'Patient', id: 'mother', name: family.contained[1].name });
  expect(mother.body.entry[0].resource.gender).toBeUndefined();
});

test('_contained=both: top-level and contained matches together', async () => {
  expect(await matches(`/Medication?${paraCode}&_contained=both`)).toEqual(['MedicationRequest/mr1', 'Medication/paracetamol']);
  expect(await matches(`/Medication?${paraCode}&_contained=both&_containedType=contained`)).toEqual([
    'MedicationRequest/mr1#med1',
    'Medication/paracetamol',
  ]);
  expect(await matches('/Patient?name=kulkarni&_contained=both')).toEqual(['Observation/family', 'Patient/meera', 'Observation/walkin']);
  expect(await matches('/Patient?name=kulkarni&birthdate=lt1990&_contained=both&_containedType=contained')).toEqual([
    'Observation/family#mother',
    'Observation/walkin#pt',
  ]);
  expect(await matches('/Patient?gender=female&_contained=both&_containedType=contained')).toEqual([
    'Patient/anita',
    'Observation/family#mother',
    'Patient/meera',
  ]);
  const counted = await server.request('GET', '/Patient?name=kulkarni&_contained=both&_containedType=contained&_summary=count');
  expect(counted.body).toMatchObject({ resourceType: 'Bundle', total: 4 });
  expect(counted.body.entry).toBeUndefined();
});

test('keyset paging, _count and _total over contained matches', async () => {
  const query = '/Patient?name=kulkarni&_contained=both&_containedType=contained&_count=1&_total=accurate';
  const seen: string[] = [];
  const totals: number[] = [];
  let next: string | undefined = query;
  let last: Json | undefined;
  while (next) {
    const res: { status: number; body: Json } = await server.request('GET', next);
    expect(res.status).toBe(200);
    expect(res.body.entry).toHaveLength(1);
    seen.push((res.body.entry[0].fullUrl as string).slice(server.base.length + 1));
    if (res.body.total !== undefined) totals.push(res.body.total);
    next = (res.body.link as Json[]).find((l) => l.relation === 'next')?.url;
    last = res.body;
    expect(seen.length).toBeLessThan(10);
  }
  expect(seen).toEqual(['Observation/family#child', 'Observation/family#mother', 'Patient/meera', 'Observation/walkin#pt']);
  expect(totals).toEqual([4, 4, 4, 4]);
  // back from the last page: the one before it
  const previous = (last!.link as Json[]).find((l) => l.relation === 'previous')!.url;
  expect(await matches(previous)).toEqual(['Patient/meera']);
  // containers: two per page, then the rest
  const first = await server.request('GET', '/Patient?gender=male,female&_contained=both&_count=2');
  expect(first.body.entry.map((e: Json) => e.fullUrl.slice(server.base.length + 1))).toEqual(['Patient/anita', 'Observation/family']);
  expect(first.body.total).toBeUndefined(); // more than one page: not counted unless asked
  const rest = (first.body.link as Json[]).find((l) => l.relation === 'next')!.url;
  expect(await matches(rest)).toEqual(['Patient/meera', 'Observation/walkin']);
  const estimate = await server.request('GET', '/Patient?_contained=true&_total=estimate&_count=1');
  expect(typeof estimate.body.total).toBe('number');
  // a cursor of another kind of search is refused, not misread
  const sorted = await server.request('GET', '/Patient?_sort=birthdate&_count=1');
  const cursor = new URL((sorted.body.link as Json[]).find((l) => l.relation === 'next')!.url).searchParams.get('_cursor');
  expect((await server.request('GET', `/Patient?_contained=true&_cursor=${cursor}`)).status).toBe(400);
});

test('an update that removes or changes a contained resource removes or changes its matches; a delete removes all', async () => {
  const without: Json = { ...family, contained: [family.contained[0]] };
  delete without.performer;
  expect((await server.request('PUT', '/Observation/family', { body: without })).status).toBe(200);
  expect(await matches('/Patient?name=sunita&_contained=true')).toEqual([]);
  expect(await matches('/Patient?_id=mother&_contained=true&_containedType=contained')).toEqual([]);
  expect(await matches('/Patient?name=aarav&_contained=true&_containedType=contained')).toEqual(['Observation/family#child']);

  const changed: Json = { ...mr2, contained: [{ ...mr2.contained[0], code: PARACETAMOL, form: { text: 'tablet' } }] };
  expect((await server.request('PUT', '/MedicationRequest/mr2', { body: changed })).status).toBe(200);
  expect(await matches(`/Medication?${paraCode}&_contained=true`)).toEqual(['MedicationRequest/mr1', 'MedicationRequest/mr2']);
  expect(await matches('/Medication?code:text=amox&_contained=true')).toEqual([]);

  expect((await server.request('DELETE', '/Observation/walkin')).status).toBe(204);
  expect(await matches('/Patient?name=ravi&_contained=true')).toEqual([]);
  expect(await matches('/Patient?name=kulkarni&_contained=both')).toEqual(['Observation/family', 'Patient/meera']);

  // no index row is left behind for what is gone, and the remaining ones keep the container's id
  const { rows } = await server.pool.query<{ id: string; resource_type: string }>(
    `SELECT DISTINCT id, resource_type FROM search_token WHERE resource_type LIKE '%#%' ORDER BY 1, 2`,
  );
  expect(rows).toEqual([
    { id: 'family', resource_type: 'Patient#Observation#child' },
    { id: 'mr1', resource_type: 'Medication#MedicationRequest#med1' },
    { id: 'mr2', resource_type: 'Medication#MedicationRequest#med1' },
  ]);
  for (const table of ['search_string', 'search_date', 'search_reference', 'search_text']) {
    const left = await server.pool.query(`SELECT 1 FROM ${table} WHERE id IN ('walkin') OR resource_type LIKE 'Patient#Observation#mother'`);
    expect({ table, rows: left.rowCount }).toEqual({ table, rows: 0 });
  }

  // put back for the tests that follow
  expect((await server.request('PUT', '/Observation/walkin', { body: walkin })).status).toBe(201);
  expect((await server.request('PUT', '/Observation/family', { body: family })).status).toBe(200);
  expect((await server.request('PUT', '/MedicationRequest/mr2', { body: mr2 })).status).toBe(200);
});

test('strict: bad values and unsupported combinations are a 400 naming the parameter', async () => {
  const cases: [string, string][] = [
    ['/Patient?_contained=maybe', '_contained'],
    ['/Patient?_contained=TRUE', '_contained'],
    ['/Patient?_contained=true&_containedType=nested', '_containedType'],
    ['/Patient?name=kulkarni&_contained=true&_sort=birthdate', '_sort'],
    ['/Medication?_contained=true&_include=Medication:manufacturer', '_include'],
    ['/Patient?_contained=both&_revinclude=Observation:subject', '_revinclude'],
    ['/Patient?_contained=true&_has:Observation:subject:code=2339-0', '_has:Observation:subject:code'],
    ['/Patient?_contained=true&_list=l1', '_list'],
    ['/?_type=Patient,Medication&_contained=true', '_contained'],
  ];
  for (const [query, name] of cases) {
    for (const headers of [{}, { prefer: 'handling=lenient' }] as Record<string, string>[]) {
      const res = await server.request('GET', query, { headers });
      expect({ query, status: res.status }).toEqual({ query, status: 400 });
      expect(res.body.resourceType).toBe('OperationOutcome');
      expect(res.body.issue[0].expression).toEqual([name]);
      expect(res.body.issue[0].diagnostics).toContain(name.split(':')[0]);
    }
  }
  // a Bundle entry's search names [type]/[id] only: contained matches are refused there
  const batch = await server.request('POST', '/', {
    body: { resourceType: 'Bundle', type: 'batch', entry: [{ request: { method: 'GET', url: 'Medication?_contained=true' } }] },
  });
  expect(batch.status).toBe(200);
  expect(batch.body.entry[0].response.status).toMatch(/^400/);
});

test('the access restriction applies to the container', async () => {
  async function search(type: string, query: string, restriction?: AccessRule): Promise<string[]> {
    const parsed = parseSearch([type], [...new URLSearchParams(query)], { timeZone: 'UTC', baseUrl: server.base });
    const c = parsed.controls;
    const r = await repo.searchResources(
      { actor: { kind: 'anonymous' }, access: restriction && uniformAccess(restriction) },
      {
        types: [type],
        criteria: parsed.criteria,
        sort: [],
        count: 50,
        include: [],
        total: 'accurate',
        contained: c.contained,
        containedType: c.containedType,
      },
    );
    expect(r.total).toBe(r.matches.length); // counted under the same restriction: no post-filtering
    return r.matches.map((m) => (m.container ? `${m.container.resourceType}/${m.container.id}#${m.id}` : `${m.resourceType}/${m.id}`));
  }
  const anitas: AccessRule = { compartment: { type: 'Patient', id: 'anita' } };
  expect(await search('Medication', '_contained=true', anitas)).toEqual(['MedicationRequest/mr1', 'MedicationRequest/mr2']);
  expect(await search('Medication', '_contained=true&_containedType=contained', anitas)).toEqual([
    'MedicationRequest/mr1#med1',
    'MedicationRequest/mr2#med1',
  ]);
  expect(await search('Medication', '_contained=true', { compartment: { type: 'Patient', id: 'meera' } })).toEqual([]);
  // the stocked Medication is outside every compartment unless shared; its contained twins follow their containers
  expect(await search('Medication', '_contained=both', { compartment: { type: 'Patient', id: 'anita', sharedTypes: ['Medication'] } })).toEqual([
    'MedicationRequest/mr1',
    'MedicationRequest/mr2',
    'Medication/paracetamol',
  ]);
  // (searching Patient needs a rule for Patient: without one the search is refused, 403)
  expect(await search('Patient', 'name=kulkarni&_contained=true', { resourceTypes: ['Observation', 'Patient'] })).toEqual([
    'Observation/family',
    'Observation/walkin',
  ]);
  expect(await search('Patient', 'name=kulkarni&_contained=both', { resourceTypes: ['Patient'] })).toEqual(['Patient/meera']);
});
