/**
 * `arogya reindex [Type…]` rebuilds the search index rows of stored resources as a write of the same content would
 * write them (repository/search/rebuild.ts) — for data written before the extraction learnt something a migration
 * cannot fill in: the link of a `#localId` reference into a contained resource, a contained Location's position.
 * Here those rows (and all of the Patients' token rows) are removed by hand, as an older version would have left
 * the data; the command puts back exactly the rows the writes made, and the searches find the resources again.
 */
import { runCli, type CliRun, useServer, type Json } from '../harness';
import { INDEX_TABLES } from '../../server/repository/writes';
import { loadFixtures, matchIds } from './fixtures';

const NHID = 'https://healthid.abdm.gov.in';

const fixtures: Json[] = [
  { resourceType: 'Patient', id: 'pt', identifier: [{ system: NHID, value: '91-5555-6666-7777' }], name: [{ family: 'Pillai' }] },
  {
    resourceType: 'MedicationRequest',
    id: 'rx',
    status: 'active',
    intent: 'order',
    subject: { reference: 'Patient/pt' },
    medicationReference: { reference: '#med' },
    contained: [
      { resourceType: 'Medication', id: 'med', code: { coding: [{ system: 'http://www.nlm.nih.gov/research/umls/rxnorm', code: '1001' }] } },
    ],
  },
  {
    resourceType: 'Encounter',
    id: 'opd',
    status: 'finished',
    class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' },
    subject: { reference: 'Patient/pt' },
    location: [{ location: { reference: '#room' } }],
    contained: [{ resourceType: 'Location', id: 'room', name: 'OPD 3', position: { latitude: 13.0604, longitude: 80.2496 } }],
  },
];

const server = useServer();
beforeAll(async () => {
  await loadFixtures(server, fixtures);
});

async function indexRows(): Promise<Record<string, unknown[]>> {
  const out: Record<string, unknown[]> = {};
  for (const t of INDEX_TABLES)
    out[t.name] = (await server.pool.query(`SELECT * FROM ${t.name} ORDER BY 1, 2, 3`)).rows.map((r) => JSON.stringify(r)).sort();
  return out;
}

function reindex(...args: string[]): Promise<CliRun> {
  return runCli(['reindex', ...args], { DATABASE_URL: server.databaseUrl, AROGYA_BASE_URL: server.base });
}

const searches = {
  chain: '/MedicationRequest?medication.code=1001',
  near: `/Encounter?location.near=${encodeURIComponent('13.0827|80.2707|5')}`,
  identifier: `/Patient?identifier=${NHID}|91555566667777`,
};

test('rebuilds the rows an older version did not write, exactly as a write does', async () => {
  for (const q of Object.values(searches)) expect((await matchIds(server, q)).length).toBe(1);
  const written = await indexRows();
  expect(written.search_geo.length).toBe(1);

  await server.pool.query(`DELETE FROM search_reference WHERE starts_with(url, '#')`);
  await server.pool.query('DELETE FROM search_geo');
  await server.pool.query(`DELETE FROM search_token WHERE resource_type = 'Patient'`);
  for (const q of Object.values(searches)) expect(await matchIds(server, q)).toEqual([]);

  const run = await reindex();
  expect(run.stderr).not.toContain('skipped');
  expect(run.code).toBe(0);
  expect(run.stdout).toMatch(/reindexed 3 resources of 3 types/);
  expect(await indexRows()).toEqual(written);
  expect(await matchIds(server, searches.chain)).toEqual(['rx']);
  expect(await matchIds(server, searches.near)).toEqual(['opd']);
  expect(await matchIds(server, searches.identifier)).toEqual(['pt']);
}, 60_000);

test('only the types named; an unknown type is a usage error', async () => {
  await server.pool.query(`DELETE FROM search_token WHERE resource_type IN ('Patient', 'Encounter')`);
  const run = await reindex('Patient');
  expect(run.code).toBe(0);
  expect(run.stdout).toMatch(/reindexed 1 resources of 1 types/);
  expect(await matchIds(server, searches.identifier)).toEqual(['pt']);
  expect(await matchIds(server, '/Encounter?status=finished')).toEqual([]);
  expect((await reindex('Encounter')).code).toBe(0);
  expect(await matchIds(server, '/Encounter?status=finished')).toEqual(['opd']);

  const bad = await reindex('Patient', 'Patients');
  expect(bad.code).toBe(2);
  expect(bad.stderr).toContain('Patients');
}, 60_000);
