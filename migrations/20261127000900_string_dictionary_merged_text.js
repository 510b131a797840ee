/**
 * Cheaper writes for two search features (issue 2's create cost; measured per Patient create):
 *
 * 1. `:contains` on strings. A trigram GIN over every search_string row cost every write ~30 trigram entries per
 *    string value (≈ 300 µs of PostgreSQL CPU per Patient). Most indexed strings repeat across resources (given and
 *    family names, cities, states, countries), so the trigrams now index the *distinct* folded values only:
 *    search_string_dict holds each value once, and a write adds only the values it is the first to use (a primary
 *    key probe for the rest). `:contains` finds the matching values in the dictionary by trigram, then their rows
 *    through search_string's value b-tree. Values are never removed from the dictionary (a value no resource
 *    still uses matches nothing, since the search goes on to search_string). Its key is the value, not a resource
 *    id: under Citus it is distributed by the value, like the claim tables of DESIGN.md §3.
 * 2. `_text` and `_content` share one full-text row per resource: the narrative's words carry weight A, every
 *    other word weight D, so `_content` (any weight) and `_text` (weight A: `'word':A`) query the same tsvector —
 *    one row and one set of GIN entries instead of two.
 */
exports.up = async (knex) => {
  await knex.raw(`
    CREATE TABLE search_string_dict (value text COLLATE "C" PRIMARY KEY);
    INSERT INTO search_string_dict SELECT DISTINCT value FROM search_string ON CONFLICT DO NOTHING;
    CREATE INDEX search_string_dict_trgm ON search_string_dict USING gin (value gin_trgm_ops);
    DROP INDEX IF EXISTS search_string_trgm;

    -- one full-text row per resource: _content words at weight D, narrative (_text) words at weight A
    UPDATE search_text c
       SET tsv = setweight(c.tsv, 'D') || coalesce((SELECT setweight(t.tsv, 'A') FROM search_text t
                                                     WHERE t.id = c.id AND t.resource_type = c.resource_type AND t.param = '_text'), '')
     WHERE c.param = '_content';
    INSERT INTO search_text (id, resource_type, param, tsv)
      SELECT t.id, t.resource_type, '_content', setweight(t.tsv, 'A') FROM search_text t
       WHERE t.param = '_text'
         AND NOT EXISTS (SELECT 1 FROM search_text c WHERE c.id = t.id AND c.resource_type = t.resource_type AND c.param = '_content');
    DELETE FROM search_text WHERE param = '_text';
  `);
};

exports.down = async () => {
  throw new Error('migrations are forward-only');
};
