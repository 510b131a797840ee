/**
 * The transactional outbox (DESIGN.md §4): the write engine's commit point appends one row per written version in
 * the writing transaction (server/events/outbox.ts), so a row exists exactly when its change committed. The
 * dispatcher (server/events/pipeline.ts) deletes rows as it hands them to the job queue, in one transaction with
 * the job inserts: the table holds only changes not yet handed on.
 *
 * Kept on the coordinator (DESIGN.md §3): a plain table, no distribution column, ordered by a sequence.
 */
exports.up = async (knex) => {
  await knex.raw(`
    CREATE TABLE event_outbox (
      id            bigserial   PRIMARY KEY,
      resource_type text        NOT NULL,
      resource_id   text        NOT NULL,
      version_id    integer     NOT NULL,
      interaction   text        NOT NULL CHECK (interaction IN ('create', 'update', 'delete')),
      actor         jsonb       NOT NULL,
      request_id    text,
      recorded      timestamptz NOT NULL DEFAULT now()
    );
  `);
};

exports.down = async (knex) => {
  await knex.raw('DROP TABLE event_outbox');
};
