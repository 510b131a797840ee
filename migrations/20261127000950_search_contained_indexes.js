/**
 * Searching contained resources (`_contained=true|both`, server/repository/search/contained.ts). A contained
 * resource's index rows carry its container's id and resource_type '<ContainedType>#<ContainerType>#<localId>'
 * (server/fhir/search/extract.ts containedKey). These partial indexes hold those rows only (a '#' in
 * resource_type), keyed by the contained type, so that `Medication?code=…&_contained=true` is an equality probe on
 * (contained type, param, value) like a normal search's — independent of the database collation, where a range on
 * resource_type ('Medication#' ≤ … < 'Medication$') is a prefix range only under C collation and would read every
 * contained Medication's rows of the table. They mirror the value indexes of 20261127000830 (INCLUDE the owner key
 * for index-only scans); full text and the date span keep their indexes (not keyed by type).
 *
 * No table is rewritten: each index is built by one scan of its table and, being partial, stays empty until
 * resources with contained resources are written; other writes only test the predicate.
 */
const KEY = "split_part(resource_type, '#', 1)";
const CONTAINED = "strpos(resource_type, '#') > 0";

const INDEXES = [
  ['search_token_contained', 'search_token', `(${KEY}, param, code, system) INCLUDE (id, resource_type)`, ''],
  ['search_string_contained', 'search_string', `(${KEY}, param, value) INCLUDE (id, resource_type)`, ''],
  ['search_date_low_contained', 'search_date', `(${KEY}, param, low) INCLUDE (id, resource_type, high)`, ''],
  ['search_date_high_contained', 'search_date', `(${KEY}, param, high) INCLUDE (id, resource_type, low)`, ''],
  ['search_number_contained', 'search_number', `(${KEY}, param, low) INCLUDE (id, resource_type, high)`, ''],
  ['search_quantity_contained', 'search_quantity', `(${KEY}, param, canon_unit, canon_low) INCLUDE (id, resource_type, canon_high)`, ''],
  ['search_uri_contained', 'search_uri', `(${KEY}, param, value) INCLUDE (id, resource_type)`, ''],
  ['search_reference_contained', 'search_reference', `(${KEY}, param, target_id, target_type) INCLUDE (id, resource_type)`, ''],
  ['search_reference_url_contained', 'search_reference', `(${KEY}, param, url) INCLUDE (id, resource_type)`, ' AND url IS NOT NULL'],
  ['search_composite_contained', 'search_composite', `(${KEY}, param, c1_code, c1_system) INCLUDE (id, resource_type)`, ''],
];

exports.up = async (knex) => {
  for (const [name, table, def, extra] of INDEXES) {
    await knex.raw(`CREATE INDEX IF NOT EXISTS ${name} ON ${table} USING btree ${def} WHERE ${CONTAINED}${extra}`);
  }
};

exports.down = async () => {
  throw new Error('migrations are forward-only');
};
