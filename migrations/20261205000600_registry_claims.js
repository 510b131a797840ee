/**
 * National registries (server/fhir/registries.ts): the write engine claims each unique identifier (NHID, HFR, HPR by
 * default) of a written Patient, Organization or Practitioner in `business_claim`, and releases the claims of what a
 * resource no longer carries — found by its owner, hence this index.
 *
 * Resources written before the claims existed are claimed here from their indexed identifiers (canonical system,
 * value without hyphens or spaces). Where several already share one identifier, the least recently updated keeps it; the others
 * are refused at their next write until the duplicate is resolved.
 */
exports.up = async (knex) => {
  await knex.raw(`
    CREATE INDEX business_claim_owner ON business_claim (resource_id, resource_type);

    INSERT INTO business_claim (system, value, resource_type, resource_id)
    SELECT DISTINCT ON (v.value, t.system) t.system, v.value, t.resource_type, t.id
      FROM search_token t
      JOIN resource r ON r.id = t.id AND r.resource_type = t.resource_type AND NOT r.deleted
      CROSS JOIN LATERAL (SELECT regexp_replace(t.code, '[[:space:]-]+', '', 'g') AS value) v
     WHERE t.param = 'identifier' AND t.code IS NOT NULL AND v.value <> ''
       AND (t.resource_type, t.system) IN (('Patient', 'https://healthid.abdm.gov.in'),
                                           ('Organization', 'https://facility.abdm.gov.in'),
                                           ('Practitioner', 'https://hpr.abdm.gov.in'))
     ORDER BY v.value, t.system, r.last_updated, t.id
    ON CONFLICT (value, system) DO NOTHING;
  `);
};

exports.down = async () => {
  throw new Error('migrations are forward-only');
};
