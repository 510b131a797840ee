/**
 * `phonetic` (Patient, Practitioner, Person, RelatedPerson, Organization, InsurancePlan) is matched by phonetic key — American Soundex of a
 * name's folded letters (server/fhir/search/normalise.ts phoneticKey) — held as search_token rows, no longer as
 * search_string rows that repeated the `name` rows. This migration turns the phonetic string rows written before
 * into those token rows: each row's folded value keys as a whole and word by word, as the extraction does
 * (fhir/search/extract.ts phoneticKeys). arogya_phonetic_key mirrors phoneticKey for folded input; it stays for
 * reference and ad-hoc SQL. Contained resources' rows (resource_type 'Patient#…') are converted too.
 */
exports.up = async (knex) => {
  await knex.raw(`
    CREATE FUNCTION arogya_phonetic_key(folded text) RETURNS text LANGUAGE plpgsql IMMUTABLE STRICT AS $$
    DECLARE
      letters text := regexp_replace(folded, '[^a-z]', '', 'g');
      self text;
      out text;
      last text;
      d text;
      ch text;
    BEGIN
      IF letters = '' THEN
        self := regexp_replace(folded, '[[:space:][:punct:]]', '', 'g');
        RETURN CASE WHEN self = '' THEN NULL ELSE '=' || self END;
      END IF;
      out := upper(substr(letters, 1, 1));
      last := CASE
        WHEN substr(letters, 1, 1) IN ('b', 'f', 'p', 'v') THEN '1'
        WHEN substr(letters, 1, 1) IN ('c', 'g', 'j', 'k', 'q', 's', 'x', 'z') THEN '2'
        WHEN substr(letters, 1, 1) IN ('d', 't') THEN '3'
        WHEN substr(letters, 1, 1) = 'l' THEN '4'
        WHEN substr(letters, 1, 1) IN ('m', 'n') THEN '5'
        WHEN substr(letters, 1, 1) = 'r' THEN '6'
        ELSE '' END;
      FOR i IN 2 .. length(letters) LOOP
        EXIT WHEN length(out) >= 4;
        ch := substr(letters, i, 1);
        CONTINUE WHEN ch IN ('h', 'w');
        d := CASE
          WHEN ch IN ('b', 'f', 'p', 'v') THEN '1'
          WHEN ch IN ('c', 'g', 'j', 'k', 'q', 's', 'x', 'z') THEN '2'
          WHEN ch IN ('d', 't') THEN '3'
          WHEN ch = 'l' THEN '4'
          WHEN ch IN ('m', 'n') THEN '5'
          WHEN ch = 'r' THEN '6'
          ELSE NULL END;
        IF d IS NULL THEN
          last := '';
          CONTINUE;
        END IF;
        IF d <> last THEN out := out || d; END IF;
        last := d;
      END LOOP;
      RETURN rpad(out, 4, '0');
    END $$;

    INSERT INTO search_token (id, resource_type, param, system, code)
      SELECT DISTINCT s.id, s.resource_type, 'phonetic', NULL::text, k.key
        FROM search_string s
        CROSS JOIN LATERAL (
          SELECT arogya_phonetic_key(s.value) AS key
          UNION SELECT arogya_phonetic_key(w) FROM string_to_table(s.value, ' ') AS w WHERE position(' ' IN s.value) > 0
        ) k
       WHERE s.param = 'phonetic' AND k.key IS NOT NULL
         AND split_part(s.resource_type, '#', 1) IN ('Patient', 'Practitioner', 'Person', 'RelatedPerson', 'Organization', 'InsurancePlan');
    DELETE FROM search_string
     WHERE param = 'phonetic' AND split_part(resource_type, '#', 1) IN ('Patient', 'Practitioner', 'Person', 'RelatedPerson', 'Organization', 'InsurancePlan');
  `);
  // the planner must see the moved rows (a stale estimate of search_string or search_token misleads every search)
  await knex.raw('ANALYZE search_string');
  await knex.raw('ANALYZE search_token');
};

exports.down = async () => {
  throw new Error('migrations are forward-only');
};
