/**
 * Every query shape is index-backed: with a few thousand Patients, Encounters and Observations (written through
 * the repository's own write path, so extraction and indexing are as in production) and fresh statistics, the
 * plans of the main shapes use the search indexes and never scan a resource or index table sequentially; the
 * first page of `_sort=-date` walks the date index instead of sorting. Plans are printed for the record.
 */
import { startServer, type TestServer } from '../harness';
import { firstPageSql } from '../../server/repository/search/execute';
import type { SearchRequest } from '../../server/repository/search/request';
import { parseSearch } from '../../server/fhir/search/parse';
import { Repository } from '../../server/repository/repository';
import type { VersionWrite } from '../../server/repository/writes';
import type { JsonObject } from '../../server/fhir/json';

const PATIENTS = 3000;
const NHID = 'https://healthid.abdm.gov.in';

let server: TestServer;
let repo: Repository;

function nhid(i: number): string {
  const d = String(91000000000000 + i * 7);
  return `${d.slice(0, 2)}-${d.slice(2, 6)}-${d.slice(6, 10)}-${d.slice(10)}`;
}

beforeAll(async () => {
  server = await startServer();
  repo = new Repository(server.pool, { referentialIntegrity: false, baseUrl: server.base, timeZone: 'UTC' });
  const plan = (resource: JsonObject): VersionWrite =>
    repo.planVersion(
      { resourceType: resource.resourceType as string, id: resource.id as string, versionId: 1, method: 'PUT', insert: true },
      resource,
    );
  let batch: VersionWrite[] = [];
  const flush = async () => {
    await repo.executeWrites(server.pool, batch);
    batch = [];
  };
  for (let i = 0; i < PATIENTS; i++) {
    batch.push(
      plan({
        resourceType: 'Patient',
        id: `pt${i}`,
        identifier: [{ system: NHID, value: nhid(i) }],
        name: [{ family: `Family${i % 500}`, given: [`Given${i}`] }],
        gender: i % 2 ? 'male' : 'female',
        birthDate: `19${String(40 + (i % 60)).padStart(2, '0')}-0${1 + (i % 9)}-1${i % 10}`,
        managingOrganization: { reference: `Organization/org${i % 20}` },
      }),
    );
    batch.push(
      plan({
        resourceType: 'Encounter',
        id: `en${i}`,
        status: 'finished',
        class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' },
        subject: { reference: `Patient/pt${i}` },
        serviceProvider: { reference: `Organization/org${i % 20}` },
        period: {
          start: new Date(Date.UTC(2020, 0, 1) + i * 3600_000).toISOString(),
          end: new Date(Date.UTC(2020, 0, 1) + i * 3600_000 + 1800_000).toISOString(),
        },
      }),
    );
    batch.push(
      plan({
        resourceType: 'Observation',
        id: `ob${i}`,
        status: 'final',
        code: { coding: [{ system: 'http://loinc.org', code: i % 3 ? '8480-6' : '29463-7' }] },
        subject: { reference: `Patient/pt${i}` },
        effectiveDateTime: new Date(Date.UTC(2021, 0, 1) + i * 3600_000).toISOString(),
        valueQuantity: { value: 100 + (i % 80), unit: 'mmHg', system: 'http://unitsofmeasure.org', code: 'mm[Hg]' },
      }),
    );
    if (batch.length >= 600) await flush();
  }
  for (let i = 0; i < 20; i++) batch.push(plan({ resourceType: 'Organization', id: `org${i}`, name: `Hospital ${i}` }));
  await flush();
  await server.pool.query('ANALYZE');
}, 120_000);
afterAll(async () => server?.close());

async function explain(type: string, query: string): Promise<string> {
  const parsed = parseSearch([type], [...new URLSearchParams(query)], { timeZone: 'UTC', baseUrl: server.base });
  const req: SearchRequest = { types: [type], criteria: parsed.criteria, sort: parsed.controls.sort, count: 20, include: [], total: 'none' };
  const plans: string[] = [];
  for (const q of firstPageSql(req)) {
    const { rows } = await server.pool.query<{ 'QUERY PLAN': string }>(`EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) ${q.sql}`, q.params);
    plans.push(rows.map((r) => r['QUERY PLAN']).join('\n'));
  }
  return plans.join('\n---\n');
}

function expectIndexOnly(plan: string): void {
  expect(plan).not.toMatch(/Seq Scan on (resource|search_\w+)\b/);
}

const shapes: [string, string, string, RegExp][] = [
  ['identifier lookup', 'Patient', `identifier=${NHID}|${nhid(1234)}`, /search_token_value/],
  [
    'identifier lookup, legacy system, hyphen-less',
    'Patient',
    `identifier=https://healthid.ndhm.gov.in|${nhid(77).replace(/-/g, '')}`,
    /search_token_value/,
  ],
  ['name prefix', 'Patient', 'name=given12', /search_string_value/],
  ['date range', 'Encounter', 'date=2020-02-01', /search_date_(low|high|span)/],
  ['two-sided date range (one row, span index)', 'Encounter', 'date=ge2020-02-01&date=lt2020-02-03', /search_date_span/],
  ['token + date (combined code+date index)', 'Observation', 'code=http://loinc.org|29463-7&date=2021-01-05', /search_code_date_span/],
  ['token + one-sided date', 'Observation', 'code=http://loinc.org|29463-7&date=ge2021-03-05', /search_(token|date)_\w+/],
  ['chained identifier', 'Encounter', `subject:Patient.identifier=${NHID}|${nhid(2500)}`, /search_reference_target/],
  ['_has', 'Patient', '_has:Observation:subject:value-quantity=179|http://unitsofmeasure.org|mm[Hg]', /search_quantity_value/],
  ['_sort=-date first page', 'Encounter', '_sort=-date', /Index Scan Backward using search_date_high/],
  ['_sort=subject first page (reference)', 'Observation', '_sort=subject', /Index Scan using search_reference_sort/],
  ['_sort=-service-provider first page (reference)', 'Encounter', '_sort=-service-provider', /Index Scan Backward using search_reference_sort/],
  ['default order first page', 'Observation', '', /resource_type_last_updated/],
];

test.each(shapes)('%s is index-backed', async (_name, type, query, index) => {
  const plan = await explain(type, query);
  console.log(`${type}?${query}\n${plan}`);
  expectIndexOnly(plan);
  expect(plan).toMatch(index);
});

/** The actual row count of the scan of `index` in an EXPLAIN ANALYZE plan. */
function rowsRead(plan: string, index: string): number {
  const m = new RegExp(`Index Only Scan using ${index} on \\w+ \\w+ \\(actual rows=(\\d+)`).exec(plan);
  if (!m) throw new Error(`no index-only scan of ${index} in\n${plan}`);
  return Number(m[1]);
}

test.each([
  // 2,000 Observations have this code, 1,500 Patients this gender, 150 Patients this organization
  ['a common code', 'Observation', 'code=http://loinc.org|8480-6', 'search_token_value'],
  ['a common gender', 'Patient', 'gender=female', 'search_token_value'],
  ['a common reference', 'Patient', 'organization=Organization/org3', 'search_reference_target'],
  // 3,000 Patients' given names start with "given" (migration 000990: a prefix pages in value order)
  ['a common name prefix', 'Patient', 'given=given', 'search_string_value'],
])('%s: the first page reads its 21 index entries in page order, not every match (migration 000970)', async (_name, type, query, index) => {
  const plan = await explain(type, query);
  expect(rowsRead(plan, index)).toBe(21);
  expect(plan).not.toMatch(/Sort Key: \(+d\.id/);
});

test('the shapes return the right rows', async () => {
  const ids = async (q: string) => {
    const res = await server.request('GET', q);
    expect(res.status).toBe(200);
    return (res.body.entry ?? []).map((e: { resource: { id: string } }) => e.resource.id);
  };
  expect(await ids(`/Patient?identifier=${NHID}|${nhid(1234)}`)).toEqual(['pt1234']);
  expect(await ids(`/Encounter?subject:Patient.identifier=${NHID}|${nhid(2500)}`)).toEqual(['en2500']);
  expect(await ids('/Encounter?_sort=-date&_count=3')).toEqual([`en${PATIENTS - 1}`, `en${PATIENTS - 2}`, `en${PATIENTS - 3}`]);
});
