/**
 * Location's `near` (R4 Location-near, type special): `[latitude]|[longitude]|[distance]|[units]` in WGS84 degrees,
 * km when no units are given, a UCUM length otherwise, and the server's default (10 km) without a distance. The
 * expected sets come from great-circle distances worked out separately (haversine, mean Earth radius 6,371.0088
 * km) from Chennai Central (13.0827, 80.2707): Apollo Greams Road 3.37 km, Kauvery Alwarpet 5.80 km, Manipal
 * Bengaluru 279 km, Lilavati Mumbai 1,035 km. From (-17.5, 179.9), across the antimeridian: Taveuni 79 km, Suva
 * 170 km.
 */
import path from 'node:path';
import { useServer, type Json } from '../harness';
import { loadFixtures, matchIds } from './fixtures';

const location = (id: string, name: string, position?: [number, number]): Json => ({
  resourceType: 'Location',
  id,
  name,
  ...(position ? { position: { latitude: position[0], longitude: position[1] } } : {}),
});

const fixtures: Json[] = [
  location('greams', 'Apollo Greams Road', [13.0604, 80.2496]),
  location('alwarpet', 'Kauvery Alwarpet', [13.0338, 80.252]),
  location('blr', 'Manipal Old Airport Road', [12.9592, 77.6974]),
  location('mum', 'Lilavati Bandra', [19.051, 72.829]),
  location('suva', 'Suva dispensary', [-18.1416, 178.4419]),
  location('taveuni', 'Taveuni dispensary', [-16.8, -179.97]),
  location('nowhere', 'Mobile van'),
];

const server = useServer();
beforeAll(async () => {
  await loadFixtures(server, fixtures);
});

const near = (v: string) => matchIds(server, `/Location?near=${encodeURIComponent(v)}`);
const CENTRAL = '13.0827|80.2707';

describe('near', () => {
  test('within a distance in km (the default unit)', async () => {
    expect(await near(`${CENTRAL}|3`)).toEqual([]);
    expect(await near(`${CENTRAL}|4`)).toEqual(['greams']);
    expect(await near(`${CENTRAL}|6|km`)).toEqual(['alwarpet', 'greams']);
    expect(await near(`${CENTRAL}|300`)).toEqual(['alwarpet', 'blr', 'greams']);
    expect(await near(`${CENTRAL}|1100`)).toEqual(['alwarpet', 'blr', 'greams', 'mum']);
  });
  test('other UCUM lengths', async () => {
    expect(await near(`${CENTRAL}|3500|m`)).toEqual(['greams']);
    expect(await near(`${CENTRAL}|2|[mi_i]`)).toEqual([]); // 3.22 km
    expect(await near(`${CENTRAL}|4|[mi_i]`)).toEqual(['alwarpet', 'greams']); // 6.44 km
  });
  test('without a distance: the server default of 10 km', async () => {
    expect(await near(CENTRAL)).toEqual(['alwarpet', 'greams']);
    expect(await near(`${CENTRAL}|`)).toEqual(['alwarpet', 'greams']);
  });
  test('across the antimeridian', async () => {
    expect(await near('-17.5|179.9|100')).toEqual(['taveuni']);
    expect(await near('-17.5|179.9|200')).toEqual(['suva', 'taveuni']);
  });
  test('comma is OR, repetition is AND; :missing; with other criteria', async () => {
    expect(await near(`${CENTRAL}|4,19.05|72.83|1`)).toEqual(['greams', 'mum']);
    expect(await matchIds(server, `/Location?near=${encodeURIComponent(`${CENTRAL}|300`)}&near=${encodeURIComponent('12.97|77.6|20')}`)).toEqual([
      'blr',
    ]);
    expect(await matchIds(server, '/Location?near:missing=true')).toEqual(['nowhere']);
    expect(await matchIds(server, `/Location?near=${encodeURIComponent(`${CENTRAL}|300`)}&name=kauvery`)).toEqual(['alwarpet']);
  });
  test('follows updates: a moved Location, a removed position', async () => {
    await loadFixtures(server, [location('mum', 'Lilavati Bandra (Chennai annexe)', [13.08, 80.27])]);
    expect(await near(`${CENTRAL}|1`)).toEqual(['mum']);
    await loadFixtures(server, [location('mum', 'Lilavati Bandra')]);
    expect(await near(`${CENTRAL}|1`)).toEqual([]);
    await loadFixtures(server, [fixtures[3]]);
  });
  test("a distance past the Earth's size finds every positioned Location; zero only the exact point", async () => {
    const positioned = ['alwarpet', 'blr', 'greams', 'mum', 'suva', 'taveuni'];
    expect(await near(`${CENTRAL}|1e300`)).toEqual(positioned);
    expect(await near(`${CENTRAL}|99999999999999999999999|km`)).toEqual(positioned);
    expect(await near('13.0604|80.2496|0')).toEqual(['greams']);
  });
  test('contained Locations (_contained=true)', async () => {
    await loadFixtures(server, [
      {
        resourceType: 'Encounter',
        id: 'visit',
        status: 'finished',
        class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' },
        location: [{ location: { reference: '#bay' } }],
        contained: [location('bay', 'Triage bay', [13.08, 80.27])],
      },
    ]);
    expect(await matchIds(server, `/Location?near=${encodeURIComponent(`${CENTRAL}|1`)}&_contained=true`)).toEqual(['visit']);
    expect(await near(`${CENTRAL}|1`)).toEqual([]);
    expect(await matchIds(server, `/Encounter?location.near=${encodeURIComponent(`${CENTRAL}|1`)}`)).toEqual(['visit']);
    expect((await server.request('DELETE', '/Encounter/visit')).status).toBe(204);
  });
  test('the CapabilityStatement lists it', async () => {
    const cs = (await server.request('GET', '/metadata')).body;
    const loc = cs.rest[0].resource.find((r: Json) => r.type === 'Location');
    expect(loc.searchParam.find((p: Json) => p.name === 'near')).toMatchObject({ type: 'special' });
  });
  test.each([
    ['one part', '13.08'],
    ['five parts', '13|80|1|km|x'],
    ['a latitude out of range', '91|80|1'],
    ['a longitude out of range', '13|181|1'],
    ['a non-number', 'north|80|1'],
    ['a negative distance', '13|80|-1'],
    ['a unit that is not a length', '13|80|1|kg'],
    ['an unknown unit', '13|80|1|furlongs'],
    ['units without a distance', '13|80||km'],
  ])('%s is a 400 naming near', async (_what, value) => {
    const res = await server.request('GET', `/Location?near=${encodeURIComponent(value)}`);
    expect(res.status).toBe(400);
    expect(res.body.resourceType).toBe('OperationOutcome');
    expect(res.body.issue[0].diagnostics).toContain('near');
  });
  test('_sort=near is refused (R4 defines no order for it)', async () => {
    const res = await server.request('GET', `/Location?_sort=near`);
    expect(res.status).toBe(400);
  });
});

describe('migration 20261127000980', () => {
  test('gives the Locations written before it the rows a write gives', async () => {
    const rows = async () => (await server.pool.query('SELECT id, resource_type, param, lat, lng FROM search_geo ORDER BY id')).rows;
    const written = await rows();
    expect(written.map((r) => r.id)).toEqual(['alwarpet', 'blr', 'greams', 'mum', 'suva', 'taveuni']);
    await server.pool.query('DROP TABLE search_geo');
    const migration = require(path.resolve(__dirname, '..', '..', 'migrations', '20261127000980_search_geo.js')) as {
      up(knex: { raw(sql: string): Promise<unknown> }): Promise<void>;
    };
    await migration.up({ raw: (sql) => server.pool.query(sql) });
    expect(await rows()).toEqual(written);
    expect(await near(`${CENTRAL}|4`)).toEqual(['greams']);
  });
});
