/**
 * arogya_content_key(content): a resource body without the server-managed meta.versionId/meta.lastUpdated (and
 * without meta when nothing else is left in it), as text. Two versions with equal keys are the same content, so an
 * update that changes nothing is a no-op (no new version). Text, not jsonb equality: jsonb `=` compares numbers
 * by value, and 235.4 → 235.40 is a real change of a decimal's precision.
 */
exports.up = async (knex) => {
  await knex.raw(`
    CREATE FUNCTION arogya_content_key(content jsonb) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
      SELECT CASE WHEN s -> 'meta' = '{}'::jsonb THEN (s - 'meta')::text ELSE s::text END
      FROM (SELECT content #- '{meta,versionId}' #- '{meta,lastUpdated}' AS s) x
    $$;
  `);
};

exports.down = async () => {
  throw new Error('migrations are forward-only');
};
