/** Location's `near` (special): rows of search_geo within a distance of a point. */
import type { Criterion, NearValue } from '../../../fhir/search/criteria';
import type { IndexCondition, SqlBuilder } from './sql';

/** Mean Earth radius (IUGG, of the WGS84 ellipsoid), metres. */
const EARTH_RADIUS_M = 6_371_008.8;

/**
 * A search_geo row within `v.meters` of `v`: a latitude (and, away from the poles and the antimeridian, longitude)
 * window the value index can range over, then the great-circle (haversine) distance on the mean sphere — within
 * 0.5 % of the WGS84 ellipsoid's, which R4 leaves to the server ("differing accuracies").
 */
function nearCondition(b: SqlBuilder, t: string, v: NearValue): string {
  const dLat = (v.meters / EARTH_RADIUS_M) * (180 / Math.PI);
  const conds = [`${t}.lat BETWEEN ${b.p(v.lat - dLat, 'float8')} AND ${b.p(v.lat + dLat, 'float8')}`];
  const cosLat = Math.cos(((Math.abs(v.lat) + dLat) * Math.PI) / 180);
  if (Math.abs(v.lat) + dLat < 89 && cosLat > 0) {
    const dLng = dLat / cosLat;
    if (v.lng - dLng >= -180 && v.lng + dLng <= 180) conds.push(`${t}.lng BETWEEN ${b.p(v.lng - dLng, 'float8')} AND ${b.p(v.lng + dLng, 'float8')}`);
  }
  const lat = b.p(v.lat, 'float8');
  const lng = b.p(v.lng, 'float8');
  // haversine with sin²(x/2) written (1 - cos x) / 2 in degrees (cosd): squaring or converting a tiny difference
  // (coordinates 1e-200 apart) made PostgreSQL raise a float underflow (22003), a 500
  conds.push(
    `2 * ${EARTH_RADIUS_M} * asin(least(1, sqrt((1 - cosd(${t}.lat - ${lat})) / 2
      + cosd(${lat}) * cosd(${t}.lat) * ((1 - cosd(${t}.lng - ${lng})) / 2)))) <= ${b.p(v.meters, 'float8')}`,
  );
  return `(${conds.join(' AND ')})`;
}

export function nearIndex(b: SqlBuilder, c: Criterion & { kind: 'near' }): IndexCondition {
  return { table: 'search_geo', param: c.code, cond: (t) => `(${c.values.map((v) => nearCondition(b, t, v)).join(' OR ')})` };
}
