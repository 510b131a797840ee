/**
 * The planner: criteria, chains, `_has`, `_list`, compartments and the access restriction combined into one
 * predicate. Every statement is also planned by PostgreSQL (EXPLAIN) on a migrated, empty database, so a shape
 * that is not valid SQL for the real schema fails here.
 */
import { expectBound, migratedDatabase } from '../../../../test/sql';
import type { Criterion } from '../../../fhir/search/criteria';
import { parseSearch } from '../../../fhir/search/parse';
import { uniformAccess, type AccessRule } from './access';
import { compileCriteria, mergeRanges, searchPredicate } from './planner';
import { SqlBuilder } from './sql';

const db = migratedDatabase();

const parse = (type: string, query: string): Criterion[] =>
  parseSearch([type], [...new URLSearchParams(query)], { timeZone: 'UTC', baseUrl: 'https://fhir.example.org/fhir' }).criteria;

/** The predicate of a search of `type`, checked for binding and planned by PostgreSQL. */
async function predicate(type: string, query: string, restriction?: AccessRule): Promise<{ sql: string; params: unknown[] }> {
  const b = new SqlBuilder();
  const sql = searchPredicate(b, 'r', [type], parse(type, query), restriction && uniformAccess(restriction));
  expectBound(sql, b.params.length);
  await db.explain(`SELECT r.id FROM resource r WHERE ${sql}`, b.params);
  return { sql, params: b.params };
}

const patient7: AccessRule = { compartment: { type: 'Patient', id: '7', sharedTypes: ['Practitioner', 'Organization'] } };

test.each([
  ['Patient', 'identifier=https://healthid.abdm.gov.in|12-3456-7890-1234&gender=male,female'],
  ['Patient', 'name:contains=ram&birthdate=ge1980&birthdate=lt1990&phonetic=Robert'],
  ['Patient', 'name:exact=Ram&address-city=Pune&_id=a,b&_lastUpdated=gt2024&gender:not=male'],
  ['Patient', 'general-practitioner:missing=true&_text=fever&_content=aspirin'],
  ['Observation', 'code=http://loinc.org|8480-6&date=2024-03&value-quantity=gt140|http://unitsofmeasure.org|mm[Hg]'],
  ['Observation', 'code-value-quantity=8480-6$gt140&component-code-value-quantity=8462-4$lt90&code:text=blood'],
  ['Observation', 'subject:Patient.name=ram&subject.identifier=x&encounter.subject:Patient.birthdate=2000'],
  ['Observation', 'subject:Patient.name:exact=Ram&_list=L1&subject:identifier=urn:x|1'],
  ['Patient', '_has:Observation:subject:code=8480-6&_has:Observation:patient:_lastUpdated=gt2024'],
  ['Patient', '_has:Observation:subject:_has:Provenance:target:agent=Practitioner/1'],
  ['RiskAssessment', 'probability=gt0.5&probability=lt0.9'],
  ['ValueSet', 'url:above=http://a.org/fhir/ValueSet/x&url:below=http://a.org&url=http://a.org/x'],
  ['Location', 'near=12.97|77.59|2|km'],
  ['MolecularSequence', 'chromosome-variant-coordinate=1$ge100$lt200'],
])('%s?%s plans, unrestricted and restricted to a compartment', async (type, query) => {
  const open = await predicate(type, query);
  const restricted = await predicate(type, query, patient7);
  // in the compartment: an EXISTS on its links; a type outside the compartment definition: nothing
  expect(restricted.sql).not.toBe(open.sql);
  expect(restricted.params.length > open.params.length || restricted.sql.endsWith('AND false')).toBe(true);
});

test('the types, live resources only, then every criterion AND-ed', async () => {
  const { sql, params } = await predicate('Patient', 'gender=male&birthdate=1980');
  const parts = sql.split('\n  AND ');
  expect(parts[0]).toBe('r.resource_type = $1');
  expect(parts[1]).toBe('NOT r.deleted');
  expect(parts.slice(2).every((p) => p.includes('EXISTS (SELECT 1 FROM search_'))).toBe(true);
  expect(params[0]).toBe('Patient');
});

test('a system search names its types; without types it takes every type', () => {
  const b = new SqlBuilder();
  expect(searchPredicate(b, 'r', ['Patient', 'Practitioner'], [])).toBe('r.resource_type = ANY($1::text[])\n  AND NOT r.deleted');
  expect(searchPredicate(new SqlBuilder(), 'r', undefined, [])).toBe('NOT r.deleted');
});

test('request values are bound, never in the SQL text', async () => {
  const { sql, params } = await predicate('Patient', "name=x');DROP TABLE resource;--&identifier=a'b|c");
  expect(sql).not.toContain('DROP');
  expect(sql).not.toContain("a'b");
  expect(params).toEqual(expect.arrayContaining(["x');drop table resource;--"]));
});

test('the access restriction is applied to the matches and to every resource a chain, _has or _list reads', async () => {
  const restriction: AccessRule = { compartment: { type: 'Patient', id: '7' } };
  const chain = await predicate('Observation', 'subject:Patient.name=ram', restriction);
  // the chained Patient must itself be in the compartment: a Patient is in its own compartment (self test)
  expect(chain.sql).toMatch(/r\d+\.resource_type = \$\d+ AND r\d+\.id = \$\d+/);
  const has = await predicate('Patient', '_has:Observation:subject:code=x', restriction);
  expect((has.sql.match(/target_type = \$\d+ AND m\d+\.target_id = \$\d+/g) ?? []).length).toBeGreaterThanOrEqual(2);
  const list = await predicate('Observation', '_list=L1', { resourceTypes: ['Observation'] });
  expect(list.sql).toContain("resource_type = 'List'");
  // a List outside the allowed types: the list's alias is not visible at all
  expect(list.sql).toMatch(/NOT r\d+\.deleted AND false\)/);
});

test('a type the restriction does not allow matches nothing; a shared type is not confined to the compartment', () => {
  expect(searchPredicate(new SqlBuilder(), 'r', ['Patient'], [], uniformAccess({ resourceTypes: ['Observation'] }))).toContain('AND false');
  expect(searchPredicate(new SqlBuilder(), 'r', ['Practitioner'], [], uniformAccess(patient7))).toBe('r.resource_type = $1\n  AND NOT r.deleted');
});

test('_has on index criteria reads only reference rows; on _lastUpdated it joins the referring resource', async () => {
  const rows = await predicate('Patient', '_has:Observation:subject:code=x');
  expect(rows.sql).not.toContain('JOIN resource');
  const joined = await predicate('Patient', '_has:Observation:subject:_lastUpdated=gt2024');
  expect(joined.sql).toContain('JOIN resource');
});

test('a chain also looks into contained resources (a #local reference), unless the criterion needs a resource row', async () => {
  expect((await predicate('Observation', 'subject:Patient.name=ram')).sql).toContain('starts_with(');
  expect((await predicate('Observation', 'subject:Patient._lastUpdated=gt2024')).sql).not.toContain('starts_with(');
});

describe('mergeRanges', () => {
  test('repeated criteria of a single-valued parameter become one, tested on one index row', () => {
    const merged = mergeRanges(parse('Patient', 'birthdate=ge1980&birthdate=lt1990&gender=male'), 'Patient');
    expect(merged).toHaveLength(2);
    expect(merged[0]).toMatchObject({ kind: 'date', code: 'birthdate', values: [{ prefix: 'ge' }], also: [[{ prefix: 'lt' }]] });
  });

  test('a multi-valued parameter keeps its criteria apart (each may be met by another value)', () => {
    const cs = parse('Observation', 'component-value-quantity=gt1&component-value-quantity=lt5');
    expect(mergeRanges(cs, 'Observation')).toHaveLength(2);
    expect(mergeRanges(parse('Observation', 'value-quantity=gt1&value-quantity=lt5'), 'Observation')).toHaveLength(1);
  });

  test('a system search (no single type) merges nothing, and the input is not changed', () => {
    const cs = parse('Patient', 'birthdate=ge1980&birthdate=lt1990');
    expect(mergeRanges(cs, undefined)).toBe(cs);
    mergeRanges(cs, 'Patient');
    expect(cs.every((c) => !('also' in c) || c.also === undefined)).toBe(true);
  });
});

test('compileCriteria continues the numbering of parameters it is given', async () => {
  const f = compileCriteria('Patient', parse('Patient', 'identifier=x'), ['first', 'second']);
  expect(f.params.slice(0, 2)).toEqual(['first', 'second']);
  expect(f.sql).toContain('r.resource_type = $3');
  await db.explain(`SELECT r.id FROM resource r WHERE r.id = $1 AND r.id <> $2 AND ${f.sql}`, f.params);
});

test('a compartment criterion: the compartment resource itself and what links to it', async () => {
  const b = new SqlBuilder();
  const sql = searchPredicate(b, 'r', ['Patient'], [{ kind: 'compartment', type: 'Patient', id: '7' }]);
  expect(sql).toMatch(/\(\(r\.resource_type = \$\d+ AND r\.id = \$\d+\) OR EXISTS \(SELECT 1 FROM search_reference/);
  expect(b.params).toEqual(expect.arrayContaining(['Patient', '7', expect.arrayContaining(['link'])]));
  await db.explain(`SELECT r.id FROM resource r WHERE ${sql}`, b.params);
  expect(searchPredicate(new SqlBuilder(), 'r', ['Medication'], [{ kind: 'compartment', type: 'Patient', id: '7' }])).toContain('AND false');
});
