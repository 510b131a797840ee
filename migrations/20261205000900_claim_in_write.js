/**
 * A plain create that claims a unique identifier (an NHID) is group-committed like any other plain create: its claims
 * are an INSERT … ON CONFLICT DO NOTHING inside the write statement itself (server/repository/writes.ts), and this
 * function fails the whole statement (nothing of it is written) when fewer claims were taken than asked — another
 * resource holds one, or two creates of the statement carry the same identifier. The write engine then plans that
 * create alone in a transaction, which names the holder in its 409 (bundle-plan.ts step 7b).
 *
 * SQLSTATE AR409 (a class of our own) tells this refusal from every other error.
 */
exports.up = async (knex) => {
  await knex.raw(`
    CREATE FUNCTION arogya_claims_taken(taken bigint, asked integer) RETURNS boolean
      LANGUAGE plpgsql VOLATILE AS $$
    BEGIN
      IF taken < asked THEN
        RAISE EXCEPTION 'a unique identifier this write claims is held by another resource' USING ERRCODE = 'AR409';
      END IF;
      RETURN true;
    END
    $$;
  `);
};

exports.down = async () => {
  throw new Error('migrations are forward-only');
};
