/**
 * Two search features (README "Search"; extraction in fhir/search/extract.ts, SQL in repository/search/):
 *
 * 1. Composites with three components (R4: MolecularSequence's chromosome-/referenceseqid-variant-/window-coordinate,
 *    token $ number $ number). search_composite gains c3_* columns mirroring c2_* (a third component of any type a
 *    second one can have); two-component rows leave them null.
 * 2. `_sort` by a reference parameter: search_reference gains the smin/smax markers the other sortable tables have
 *    (the row with the lowest / highest normalised value — 'Type/id', or the url — per resource and parameter), and
 *    an index on (resource_type, param, that value) that the first page of a sorted search walks.
 *
 * Cheap on large tables: nullable columns without defaults are a catalog change only (no table rewrite). Rows
 * written before this migration keep null markers; the sort tells their lowest / highest row by comparing the
 * resource's rows (repository/search/execute.ts), so they need no backfill. The index is built once (a scan and
 * sort of search_reference).
 */
exports.up = async (knex) => {
  await knex.raw(`
    ALTER TABLE search_composite
      ADD COLUMN c3_system text,
      ADD COLUMN c3_code   text,
      ADD COLUMN c3_low    numeric,
      ADD COLUMN c3_high   numeric,
      ADD COLUMN c3_dlow   timestamptz,
      ADD COLUMN c3_dhigh  timestamptz,
      ADD COLUMN c3_text   text COLLATE "C";

    ALTER TABLE search_reference
      ADD COLUMN smin boolean,
      ADD COLUMN smax boolean;
    CREATE INDEX search_reference_sort ON search_reference
      (resource_type, param, (coalesce(url, target_type || '/' || target_id) COLLATE "C"));
  `);
};

exports.down = async () => {
  throw new Error('migrations are forward-only');
};
