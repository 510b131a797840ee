/** Location's near: great-circle distance, with a latitude/longitude window for the index. */
import { sqlEvaluator } from '../../../../test/sql';
import type { NearValue } from '../../../fhir/search/criteria';
import { nearIndex } from './near';
import { SqlBuilder } from './sql';

const db = sqlEvaluator();
afterAll(() => db.close());

const match = (v: NearValue, lat: number, lng: number) =>
  db.matches((b, t) => nearIndex(b, { kind: 'near', code: 'near', values: [v] }).cond(t), { lat: [lat, 'float8'], lng: [lng, 'float8'] });

test('within the distance on the sphere: Bengaluru MG Road to Cubbon Park is about 1.1 km', async () => {
  const mgRoad = { lat: 12.9756, lng: 77.6066 };
  expect(await match({ ...mgRoad, meters: 2000 }, 12.9763, 77.5929)).toBe(true);
  expect(await match({ ...mgRoad, meters: 1000 }, 12.9763, 77.5929)).toBe(false);
});

test('across the antimeridian there is no longitude window, and the distance still holds', async () => {
  const b = new SqlBuilder();
  const sql = nearIndex(b, { kind: 'near', code: 'near', values: [{ lat: 0, lng: 179.999, meters: 1000 }] }).cond('t');
  expect(sql).toContain('t.lat BETWEEN');
  expect(sql).not.toContain('t.lng BETWEEN');
  expect(await match({ lat: 0, lng: 179.999, meters: 1000 }, 0, -179.999)).toBe(true);
});

test('away from the poles and the antimeridian both windows bound the index scan', () => {
  const sql = nearIndex(new SqlBuilder(), { kind: 'near', code: 'near', values: [{ lat: 12, lng: 77, meters: 1000 }] }).cond('t');
  expect(sql).toContain('t.lat BETWEEN');
  expect(sql).toContain('t.lng BETWEEN');
});
