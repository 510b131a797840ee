/**
 * Resource bodies are compressed with lz4 instead of pglz (PostgreSQL's default): a Patient of a few kB is past the
 * TOAST threshold, so every write compressed its body and every read decompressed it, and pglz_compress alone was
 * about 4 % of PostgreSQL's CPU in a run of Patient creates (perf, 2026-12-06). lz4 does the same several times
 * faster for about the same size. Only new values are compressed the new way (old ones stay readable as they are;
 * a version moved to resource_superseded keeps its compressed datum). A PostgreSQL built without lz4 keeps pglz.
 */
exports.up = async (knex) => {
  await knex.raw(`
    DO $$
    BEGIN
      ALTER TABLE resource ALTER COLUMN content SET COMPRESSION lz4;
      ALTER TABLE resource_superseded ALTER COLUMN content SET COMPRESSION lz4;
    EXCEPTION WHEN OTHERS THEN
      RAISE NOTICE 'this PostgreSQL has no lz4: resource bodies stay compressed with pglz';
    END $$;
  `);
};

exports.down = async (knex) => {
  await knex.raw(`
    ALTER TABLE resource ALTER COLUMN content SET COMPRESSION pglz;
    ALTER TABLE resource_superseded ALTER COLUMN content SET COMPRESSION pglz;
  `);
};
