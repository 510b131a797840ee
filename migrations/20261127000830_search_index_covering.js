/**
 * Search indexes that answer from the index alone (measured at a million resources, test/bench/search.ts):
 *
 * - value indexes INCLUDE (id): a search without `_sort` takes its page of ids straight from the index rows of its
 *   driving criterion (repository/search/compile.ts drivenSearch) — an index-only scan, one entry per match, no
 *   visit to the table's heap for each match;
 * - owner indexes (id, resource_type, param) INCLUDE the value columns: a criterion tested for a candidate resource
 *   (an EXISTS probe by owner) reads the index entries of that parameter only, and no heap;
 * - the date span GiST INCLUDE (id, low, high), the date b-trees INCLUDE (id and the other bound);
 * - extended statistics on (resource_type, param[, value]): the planner sees that `code=http://loinc.org|8480-6` is
 *   a common code and an ABHA number a unique one, and picks which criterion to start from accordingly.
 *
 * The owner indexes keep (id, resource_type) as their prefix: writes delete a resource's rows through them.
 */
const INDEXES = [
  ['search_token_value', 'search_token', '(resource_type, param, code, system) INCLUDE (id)'],
  ['search_token_owner', 'search_token', '(id, resource_type, param) INCLUDE (system, code)'],
  ['search_string_value', 'search_string', '(resource_type, param, value) INCLUDE (id)'],
  ['search_string_owner', 'search_string', '(id, resource_type, param)'],
  ['search_date_low', 'search_date', '(resource_type, param, low) INCLUDE (id, high)'],
  ['search_date_high', 'search_date', '(resource_type, param, high) INCLUDE (id, low)'],
  ['search_date_owner', 'search_date', '(id, resource_type, param) INCLUDE (low, high)'],
  [
    'search_date_span',
    'search_date',
    "USING gist (resource_type, param, tstzrange(least(low, high), greatest(low, high), '[]')) INCLUDE (id, low, high)",
  ],
  ['search_number_value', 'search_number', '(resource_type, param, low) INCLUDE (id, high)'],
  ['search_number_owner', 'search_number', '(id, resource_type, param) INCLUDE (low, high)'],
  ['search_quantity_value', 'search_quantity', '(resource_type, param, canon_unit, canon_low) INCLUDE (id, canon_high)'],
  ['search_quantity_owner', 'search_quantity', '(id, resource_type, param)'],
  ['search_uri_value', 'search_uri', '(resource_type, param, value) INCLUDE (id)'],
  ['search_uri_owner', 'search_uri', '(id, resource_type, param)'],
  ['search_reference_target', 'search_reference', '(resource_type, param, target_id, target_type) INCLUDE (id)'],
  ['search_reference_owner', 'search_reference', '(id, resource_type, param) INCLUDE (target_type, target_id)'],
  ['search_composite_value', 'search_composite', '(resource_type, param, c1_code, c1_system) INCLUDE (id)'],
  ['search_composite_owner', 'search_composite', '(id, resource_type, param)'],
  ['search_text_owner', 'search_text', '(id, resource_type, param)'],
];

const STATISTICS = [
  ['search_token_value_stats', 'search_token', '(mcv, dependencies) ON resource_type, param, system, code'],
  ['search_string_param_stats', 'search_string', '(mcv, dependencies) ON resource_type, param'],
  ['search_date_param_stats', 'search_date', '(mcv, dependencies) ON resource_type, param'],
  ['search_number_param_stats', 'search_number', '(mcv, dependencies) ON resource_type, param'],
  ['search_quantity_param_stats', 'search_quantity', '(mcv, dependencies) ON resource_type, param, canon_unit'],
  ['search_uri_param_stats', 'search_uri', '(mcv, dependencies) ON resource_type, param'],
  ['search_reference_param_stats', 'search_reference', '(mcv, dependencies) ON resource_type, param, target_type'],
  ['search_composite_param_stats', 'search_composite', '(mcv, dependencies) ON resource_type, param, c1_system, c1_code'],
];

exports.up = async (knex) => {
  for (const [name, table, def] of INDEXES) {
    await knex.raw(`DROP INDEX IF EXISTS ${name}`);
    const using = def.startsWith('USING') ? def : `USING btree ${def}`;
    await knex.raw(`CREATE INDEX ${name} ON ${table} ${using}`);
  }
  for (const [name, table, def] of STATISTICS) await knex.raw(`CREATE STATISTICS ${name} ${def} FROM ${table}`);
  // the new statistics are empty until the tables are analysed (autovacuum would, eventually)
  for (const table of new Set(STATISTICS.map(([, t]) => t))) await knex.raw(`ANALYZE ${table}`);
};

exports.down = async () => {
  throw new Error('migrations are forward-only');
};
