/**
 * A date range search (`date=ge2024-03-01&date=lt2024-03-08`) is two-sided: a stored [low, high) span matches when
 * low < end and high > start, and a b-tree on low or on high bounds only one side (half the table, for a range in
 * the middle of the data). A GiST index over the span answers the overlap directly; the search compiler adds the
 * overlap test (repository/search/compile.ts DATE_SPAN) as a redundant condition whenever the criteria of one
 * parameter bound both sides. btree_gist puts (resource_type, param) in the same index. least/greatest keep the
 * range valid even for a stored span whose end precedes its start.
 */
exports.up = async (knex) => {
  await knex.raw(`
    CREATE EXTENSION IF NOT EXISTS btree_gist;
    CREATE INDEX search_date_span ON search_date
      USING gist (resource_type, param, tstzrange(least(low, high), greatest(low, high), '[]'));
  `);
};

exports.down = async () => {
  throw new Error('migrations are forward-only');
};
