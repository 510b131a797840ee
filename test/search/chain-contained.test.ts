/**
 * Chaining into contained resources (search.html#contained): `MedicationRequest?medication.code=X` matches a
 * prescription whose medication is a contained Medication (`medicationReference: #med`) with that code, as it
 * matches one that refers to a Medication on the server. Only the contained resource the chained parameter refers
 * to counts; a chain goes on from a contained resource to the server's resources and to the container's other
 * contained resources. Expected result sets are computed by hand from the resources below.
 */
import { useServer, type Json } from '../harness';
import { uniformAccess, type AccessRule } from '../../server/repository/search/compile/access';
import { parseSearch } from '../../server/fhir/search/parse';
import { Repository } from '../../server/repository/repository';
import { loadFixtures, matchIds } from './fixtures';

const RX = 'http://www.nlm.nih.gov/research/umls/rxnorm';
const med = (id: string, code: string, manufacturer?: string): Json => ({
  resourceType: 'Medication',
  id,
  code: { coding: [{ system: RX, code }] },
  ...(manufacturer ? { manufacturer: { reference: manufacturer } } : {}),
});
const request = (id: string, medication: string, extra: Json = {}): Json => ({
  resourceType: 'MedicationRequest',
  id,
  status: 'active',
  intent: 'order',
  medicationReference: { reference: medication },
  subject: { reference: 'Patient/pt' },
  ...extra,
});

// rx1: contained #m1 (1001, made by the server's Organization cipla); also a contained #m2 (2002) it does not
//      prescribe but cites as supporting information
// rx2: refers to the server's Medication shared (1001)
// rx3: contained #m3 (3003), made by the contained Organization #sun
// rx4: refers to the server's Medication other (2002); status stopped
const fixtures: Json[] = [
  { resourceType: 'Patient', id: 'pt', name: [{ family: 'Iyer' }] },
  { resourceType: 'Patient', id: 'pt2', name: [{ family: 'Menon' }] },
  { resourceType: 'Organization', id: 'cipla', name: 'Cipla' },
  med('shared', '1001'),
  med('other', '2002'),
  request('rx1', '#m1', { contained: [med('m1', '1001', 'Organization/cipla'), med('m2', '2002')], supportingInformation: [{ reference: '#m2' }] }),
  request('rx2', 'Medication/shared'),
  request('rx3', '#m3', { contained: [med('m3', '3003', '#sun'), { resourceType: 'Organization', id: 'sun', name: 'Sun Pharma' }] }),
  request('rx4', 'Medication/other', { status: 'stopped' }),
  request('rx6', '#m6', { contained: [med('m6', '3003')], subject: { reference: 'Patient/pt2' } }),
];

const server = useServer();
beforeAll(async () => {
  await loadFixtures(server, fixtures);
});

const q = (query: string) => matchIds(server, query);

describe('a chain follows #references into the contained resource', () => {
  test('a contained Medication matches as a referenced one does', async () => {
    expect(await q(`/MedicationRequest?medication.code=${RX}|1001`)).toEqual(['rx1', 'rx2']);
    expect(await q('/MedicationRequest?medication:Medication.code=3003')).toEqual(['rx3', 'rx6']);
    expect(await q('/MedicationRequest?medication.code=1001,3003')).toEqual(['rx1', 'rx2', 'rx3', 'rx6']);
  });
  test('only the contained resource the parameter refers to', async () => {
    // rx1 contains a 2002 Medication, but prescribes #m1
    expect(await q('/MedicationRequest?medication.code=2002')).toEqual(['rx4']);
  });
  test('with other criteria (the chain not driving), and as the only one (driving)', async () => {
    expect(await q('/MedicationRequest?medication.code=1001&status=active')).toEqual(['rx1', 'rx2']);
    expect(await q('/MedicationRequest?medication.code=2002&status=active')).toEqual([]);
    expect(await q('/MedicationRequest?status=active,stopped&medication.code=3003&subject=Patient/pt')).toEqual(['rx3']);
  });
  test('_id of a contained resource is its local id', async () => {
    expect(await q('/MedicationRequest?medication._id=m3')).toEqual(['rx3']);
    expect(await q('/MedicationRequest?medication._id=shared')).toEqual(['rx2']);
  });
  test('on from the contained resource: to the server and to a sibling contained resource', async () => {
    expect(await q('/MedicationRequest?medication.manufacturer.name=cipla')).toEqual(['rx1']);
    expect(await q('/MedicationRequest?medication.manufacturer.name=sun')).toEqual(['rx3']);
    expect(await q('/MedicationRequest?medication.manufacturer:Organization._id=sun')).toEqual(['rx3']);
  });
  test('_lastUpdated belongs to resources on the server: a contained one has none', async () => {
    expect(await q('/MedicationRequest?medication._lastUpdated=gt2000-01-01')).toEqual(['rx2', 'rx4']);
  });
  test('a reference to a contained resource is not missing', async () => {
    expect(await q('/MedicationRequest?medication:missing=false')).toEqual(['rx1', 'rx2', 'rx3', 'rx4', 'rx6']);
  });
  test('follows updates of the container', async () => {
    await loadFixtures(server, [request('rx5', '#m5', { contained: [med('m5', '5005')] })]);
    expect(await q('/MedicationRequest?medication.code=5005')).toEqual(['rx5']);
    await loadFixtures(server, [request('rx5', 'Medication/shared')]);
    expect(await q('/MedicationRequest?medication.code=5005')).toEqual([]);
    expect(await q('/MedicationRequest?medication.code=1001')).toEqual(['rx1', 'rx2', 'rx5']);
  });
});

describe('access restriction (repository level)', () => {
  // A contained resource is part of its container: it is visible exactly when the container is.
  async function search(query: string, restriction: AccessRule): Promise<string[]> {
    const repo = new Repository(server.pool, { referentialIntegrity: true, baseUrl: server.base, timeZone: 'UTC' });
    const parsed = parseSearch(['MedicationRequest'], [...new URLSearchParams(query)], { timeZone: 'UTC', baseUrl: server.base });
    const r = await repo.searchResources(
      { actor: { kind: 'anonymous' }, access: restriction && uniformAccess(restriction) },
      { types: ['MedicationRequest'], criteria: parsed.criteria, sort: [], count: 50, include: [], total: 'none' },
    );
    return r.matches.map((m) => m.id).sort();
  }
  test("the container's compartment decides, for the chain into it as for the match", async () => {
    expect(await search('medication.code=3003', { compartment: { type: 'Patient', id: 'pt' } })).toEqual(['rx3']);
    expect(await search('medication.code=3003', { compartment: { type: 'Patient', id: 'pt2' } })).toEqual(['rx6']);
    expect(await search('medication.code=3003&status=active', { compartment: { type: 'Patient', id: 'pt2' } })).toEqual(['rx6']);
  });
  test("a restriction to types without Medication keeps contained Medications (they are the container's)", async () => {
    expect(await search('medication.code=1001', { resourceTypes: ['MedicationRequest'] })).toEqual(['rx1']); // rx2, rx5: Medication/shared
    expect(await search('medication.code=1001', { resourceTypes: ['MedicationRequest', 'Medication'] })).toEqual(['rx1', 'rx2', 'rx5']);
  });
});
