/**
 * A combined index for the commonest clinical query: a code within a period (`Observation?code=loinc|8480-6&
 * date=ge2024-03-01&date=lt2024-04-01`). Separately, each criterion is broad at scale (a common LOINC code matches
 * tens of thousands of Observations, a month of dates thousands), and intersecting them costs one index entry per
 * row of either side. search_code_date holds, for every resource type with a token parameter `code` and a date
 * parameter `date`, one row per (coding, date value) pair: a GiST over (resource_type, param, code, date span)
 * answers both criteria in one index scan whose size is the result's. Filled at write time with the other index
 * rows (fhir/search/extract.ts codeDateRows); the search compiler drives such searches from it
 * (repository/search/compile.ts). Existing resources are backfilled from their token and date rows.
 */
exports.up = async (knex) => {
  await knex.raw(`
    CREATE TABLE search_code_date (
      id            text NOT NULL,
      resource_type text NOT NULL,
      param         text NOT NULL,
      system        text,
      code          text,
      low           timestamptz NOT NULL,
      high          timestamptz NOT NULL
    );
    INSERT INTO search_code_date (id, resource_type, param, system, code, low, high)
      SELECT t.id, t.resource_type, 'code+date', t.system, t.code, d.low, d.high
        FROM search_token t
        JOIN search_date d ON d.id = t.id AND d.resource_type = t.resource_type AND d.param = 'date'
       WHERE t.param = 'code' AND t.code IS NOT NULL;
    CREATE INDEX search_code_date_owner ON search_code_date (id, resource_type, param);
    CREATE INDEX search_code_date_span ON search_code_date
      USING gist (resource_type, param, code, tstzrange(least(low, high), greatest(low, high), '[]')) INCLUDE (id, system, low, high);
    ANALYZE search_code_date;
  `);
};

exports.down = async () => {
  throw new Error('migrations are forward-only');
};
