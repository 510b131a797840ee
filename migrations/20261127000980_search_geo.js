/**
 * Location's `near` (R4's one special search parameter with an expression, Location.position): search_geo holds a
 * row per position, latitude and longitude in WGS84 degrees (server/fhir/search/extract.ts; searched by
 * server/repository/search/compile.ts nearCondition: a latitude window on the value index, a longitude window,
 * then the great-circle distance). Rows of contained Locations carry the owner key like every index table's
 * (repository/search/contained.ts) and have their own partial index. The Locations written before this migration
 * get their rows from their stored position (contained ones when their container is next written).
 */
exports.up = async (knex) => {
  await knex.raw(`
    CREATE TABLE search_geo (
      id            text NOT NULL,
      resource_type text NOT NULL,
      param         text NOT NULL,
      lat           double precision NOT NULL,
      lng           double precision NOT NULL
    );
    CREATE INDEX search_geo_owner ON search_geo (id, resource_type, param) INCLUDE (lat, lng);
    CREATE INDEX search_geo_value ON search_geo (resource_type, param, lat) INCLUDE (id, lng);
    CREATE INDEX search_geo_contained ON search_geo (split_part(resource_type, '#', 1), param, lat) INCLUDE (id, resource_type, lng)
      WHERE strpos(resource_type, '#') > 0;

    INSERT INTO search_geo (id, resource_type, param, lat, lng)
      SELECT r.id, r.resource_type, 'near', (r.content #>> '{position,latitude}')::double precision,
             (r.content #>> '{position,longitude}')::double precision
        FROM resource r
       WHERE r.resource_type = 'Location' AND NOT r.deleted
         AND jsonb_typeof(r.content #> '{position,latitude}') = 'number'
         AND jsonb_typeof(r.content #> '{position,longitude}') = 'number'
         AND abs((r.content #>> '{position,latitude}')::double precision) <= 90
         AND abs((r.content #>> '{position,longitude}')::double precision) <= 180;
    ANALYZE search_geo;
  `);
};

exports.down = async () => {
  throw new Error('migrations are forward-only');
};
