/** A search driven from one criterion's index rows: which criterion drives, and the statement's shape. */
import { expectBound, migratedDatabase } from '../../../../test/sql';
import type { Criterion } from '../../../fhir/search/criteria';
import { parseSearch } from '../../../fhir/search/parse';
import { uniformAccess, type AccessRule } from './access';
import { drivenSearch, driverRank, type DrivenSearch } from './driven';

const db = migratedDatabase();

const parse = (type: string, query: string): Criterion[] =>
  parseSearch([type], [...new URLSearchParams(query)], { timeZone: 'UTC', baseUrl: '' }).criteria;

/** The driven search of `type?query`, its page statement planned by PostgreSQL. */
async function driven(type: string, query: string, restriction?: AccessRule): Promise<DrivenSearch | undefined> {
  const d = drivenSearch(type, parse(type, query), restriction && uniformAccess(restriction));
  if (d) {
    const where = d.byValue ? `${d.where} AND ${d.byValue.first}` : d.where;
    expectBound(`${d.from} ${where}`, d.params.length);
    await db.explain(`SELECT d.id FROM ${d.from} WHERE ${where} GROUP BY d.id ORDER BY d.id LIMIT 20`, d.params);
  }
  return d;
}

test('the driver ranks: an exact token or reference first, then chains and _has, then ranges', () => {
  const rank = (type: string, q: string) => driverRank(parse(type, q)[0]);
  expect(rank('Patient', 'identifier=s|1')).toBe(0);
  expect(rank('Observation', 'subject=Patient/1')).toBe(0);
  expect(rank('Observation', 'subject:Patient.name=x')).toBe(1);
  expect(rank('Patient', '_has:Observation:subject:code=x')).toBe(1);
  expect(rank('Patient', 'name=x')).toBe(2);
  expect(rank('Patient', 'identifier=1')).toBe(3); // any system
  expect(rank('Patient', 'gender:not=male')).toBeUndefined();
  expect(rank('Patient', '_id=1')).toBeUndefined();
  expect(rank('Observation', 'subject.name=x')).toBeUndefined(); // several target types
  expect(rank('Patient', '_has:Observation:subject:_lastUpdated=gt2024')).toBeUndefined();
});

test('the likeliest selective criterion drives; the others filter its rows by owner', async () => {
  const d = (await driven('Patient', 'birthdate=1980&identifier=https://healthid.abdm.gov.in|12345678901234'))!;
  expect(d.from).toBe('search_token d');
  expect(d.where).toContain('EXISTS (SELECT 1 FROM search_date');
  expect(d.params).toContain('identifier');
});

test('a code with a two-sided date range is read from search_code_date', async () => {
  const d = (await driven('Observation', 'code=http://loinc.org|8480-6&date=ge2024-03-01&date=lt2024-04-01'))!;
  expect(d.from).toBe('search_code_date d');
  expect(d.where).toContain('&& tstzrange(');
  // a one-sided date: the token drives from search_token
  expect((await driven('Observation', 'code=http://loinc.org|8480-6&date=ge2024-03-01'))!.from).toBe('search_token d');
});

test('a chain drives from the reference rows to matching targets, and to matching contained resources', async () => {
  const d = (await driven('Observation', 'subject:Patient.identifier=s|1'))!;
  expect(d.from).toContain('UNION ALL');
  expect(d.from).toMatch(/\) d$/);
});

test('_has drives from the referring rows: their live targets', async () => {
  const d = (await driven('Patient', '_has:Observation:subject:code=http://loinc.org|8480-6'))!;
  expect(d.from).toContain('target_id AS id');
  expect(d.from).toContain('NOT r');
});

test('a string prefix is paged in value order, each resource at its first matching value', async () => {
  const d = (await driven('Patient', 'name=ram'))!;
  expect(d.from).toBe('search_string d');
  expect(d.byValue?.first).toContain('NOT EXISTS');
  expect((await driven('Patient', 'name:exact=Ram'))!.byValue).toBeUndefined();
});

test('no driver: _lastUpdated, or no positive index criterion', async () => {
  expect(await driven('Patient', 'identifier=s|1&_lastUpdated=gt2024')).toBeUndefined();
  expect(await driven('Patient', 'gender:not=male')).toBeUndefined();
  expect(await driven('Patient', '_id=a')).toBeUndefined();
});

test('the access restriction filters the driving rows', async () => {
  const open = (await driven('Observation', 'code=s|1'))!;
  const restricted = (await driven('Observation', 'code=s|1', { compartment: { type: 'Patient', id: '7' } }))!;
  expect(restricted.where.length).toBeGreaterThan(open.where.length);
  expect(restricted.params).toEqual(expect.arrayContaining(['Patient', '7']));
});
