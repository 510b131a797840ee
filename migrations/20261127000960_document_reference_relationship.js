/**
 * DocumentReference's `relationship` composite (relatesto $ relation) is searchable: its first component is a
 * reference, stored in search_composite as c1_code = `Type/id` (a relative reference, without its /_history part)
 * or the absolute url, c1_system NULL, and the relation code in c2_code (server/fhir/search/extract.ts
 * compositeRows). New writes extract it; this migration adds the rows of the DocumentReferences written before.
 * The database does not know the server's base URL, so an absolute reference to this server itself is kept as its
 * url here (the next write of that DocumentReference stores it as Type/id).
 */
exports.up = async (knex) => {
  await knex.raw(`
    INSERT INTO search_composite (id, resource_type, param, c1_system, c1_code, c2_system, c2_code)
      SELECT DISTINCT r.id, r.resource_type, 'relationship', NULL::text, t.code, NULL::text, e.rel ->> 'code'
        FROM resource r
        CROSS JOIN LATERAL jsonb_array_elements(CASE WHEN jsonb_typeof(r.content -> 'relatesTo') = 'array'
                                                     THEN r.content -> 'relatesTo' ELSE '[]'::jsonb END) AS e(rel)
        CROSS JOIN LATERAL (
          SELECT CASE
            WHEN ref ~ '^[A-Z][A-Za-z]+/[A-Za-z0-9.-]{1,64}(/_history/[A-Za-z0-9.-]{1,64})?$'
              THEN regexp_replace(ref, '/_history/.*$', '')
            WHEN ref ~* '^[a-z][a-z0-9+.-]*:' THEN ref
          END AS code
          FROM (SELECT e.rel -> 'target' ->> 'reference' AS ref) x
        ) t
       WHERE r.resource_type = 'DocumentReference' AND NOT r.deleted
         AND t.code IS NOT NULL AND jsonb_typeof(e.rel -> 'code') = 'string'
         AND NOT EXISTS (SELECT 1 FROM search_composite c
                          WHERE c.id = r.id AND c.resource_type = r.resource_type AND c.param = 'relationship')
  `);
};

exports.down = async () => {
  throw new Error('migrations are forward-only');
};
