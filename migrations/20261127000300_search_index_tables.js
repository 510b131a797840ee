/**
 * Search index tables (DESIGN.md §3; filled at write time by server/fhir/search/extract.ts, kept in step by the
 * set-based write statement of server/repository/writes.ts). Every table carries (id, resource_type) — the id is
 * the future Citus distribution column — and an owner index (id, resource_type) for replacing a resource's rows;
 * no foreign keys. Text columns holding normalised values are COLLATE "C": byte order makes prefix ranges
 * (`:below`, string starts-with) index range scans, and comparisons cheap.
 *
 * `smin`/`smax` mark, per resource and parameter, the row with the lowest / highest value: `_sort` walks the value
 * index through those rows, so the first page of a sorted search never sorts the whole table.
 */
exports.up = async (knex) => {
  await knex.raw(`
    CREATE EXTENSION IF NOT EXISTS pg_trgm;

    CREATE TABLE search_string (
      id            text NOT NULL,
      resource_type text NOT NULL,
      param         text NOT NULL,
      value         text COLLATE "C" NOT NULL,
      exact         text NOT NULL,
      smin          boolean NOT NULL DEFAULT false,
      smax          boolean NOT NULL DEFAULT false
    );
    CREATE INDEX search_string_owner ON search_string (id, resource_type);
    CREATE INDEX search_string_value ON search_string (resource_type, param, value);
    CREATE INDEX search_string_trgm ON search_string USING gin (value gin_trgm_ops);

    CREATE TABLE search_date (
      id            text NOT NULL,
      resource_type text NOT NULL,
      param         text NOT NULL,
      low           timestamptz NOT NULL,
      high          timestamptz NOT NULL,
      smin          boolean NOT NULL DEFAULT false,
      smax          boolean NOT NULL DEFAULT false
    );
    CREATE INDEX search_date_owner ON search_date (id, resource_type);
    CREATE INDEX search_date_low ON search_date (resource_type, param, low);
    CREATE INDEX search_date_high ON search_date (resource_type, param, high);

    CREATE TABLE search_number (
      id            text NOT NULL,
      resource_type text NOT NULL,
      param         text NOT NULL,
      low           numeric NOT NULL,
      high          numeric NOT NULL,
      smin          boolean NOT NULL DEFAULT false,
      smax          boolean NOT NULL DEFAULT false
    );
    CREATE INDEX search_number_owner ON search_number (id, resource_type);
    CREATE INDEX search_number_value ON search_number (resource_type, param, low);

    CREATE TABLE search_quantity (
      id            text NOT NULL,
      resource_type text NOT NULL,
      param         text NOT NULL,
      system        text COLLATE "C",
      code          text COLLATE "C",
      low           numeric,
      high          numeric,
      canon_unit    text COLLATE "C",
      canon_low     numeric,
      canon_high    numeric,
      smin          boolean NOT NULL DEFAULT false,
      smax          boolean NOT NULL DEFAULT false
    );
    CREATE INDEX search_quantity_owner ON search_quantity (id, resource_type);
    CREATE INDEX search_quantity_value ON search_quantity (resource_type, param, canon_unit, canon_low);

    CREATE TABLE search_uri (
      id            text NOT NULL,
      resource_type text NOT NULL,
      param         text NOT NULL,
      value         text COLLATE "C" NOT NULL
    );
    CREATE INDEX search_uri_owner ON search_uri (id, resource_type);
    CREATE INDEX search_uri_value ON search_uri (resource_type, param, value);

    CREATE TABLE search_reference (
      id            text NOT NULL,
      resource_type text NOT NULL,
      param         text NOT NULL,
      target_type   text,
      target_id     text,
      url           text COLLATE "C"
    );
    CREATE INDEX search_reference_owner ON search_reference (id, resource_type);
    CREATE INDEX search_reference_target ON search_reference (resource_type, param, target_id, target_type);
    CREATE INDEX search_reference_url ON search_reference (resource_type, param, url) WHERE url IS NOT NULL;

    CREATE TABLE search_composite (
      id            text NOT NULL,
      resource_type text NOT NULL,
      param         text NOT NULL,
      c1_system     text,
      c1_code       text,
      c2_system     text,
      c2_code       text,
      c2_low        numeric,
      c2_high       numeric,
      c2_dlow       timestamptz,
      c2_dhigh      timestamptz,
      c2_text       text COLLATE "C"
    );
    CREATE INDEX search_composite_owner ON search_composite (id, resource_type);
    CREATE INDEX search_composite_value ON search_composite (resource_type, param, c1_code, c1_system);

    CREATE TABLE search_text (
      id            text NOT NULL,
      resource_type text NOT NULL,
      param         text NOT NULL,
      tsv           tsvector NOT NULL
    );
    CREATE INDEX search_text_owner ON search_text (id, resource_type);
    CREATE INDEX search_text_tsv ON search_text USING gin (tsv);
  `);
};

exports.down = async () => {
  throw new Error('migrations are forward-only');
};
