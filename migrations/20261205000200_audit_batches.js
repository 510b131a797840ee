/**
 * The audit trail stored one row per written batch instead of one row per event (issue 11 point 10: lean, off the
 * request path). A row per event cost PostgreSQL about as much as the read it recorded (a heap row, a primary key,
 * a GIN and a b-tree entry each); a batch row costs one heap row and its index entries for the batch's distinct
 * patients and agents, the events themselves a few hundred bytes of text each.
 *
 * - audit_batch: one row per INSERT of a process's buffer (server/audit/log.ts). `id` is time-ordered (v7 layout),
 *   `events` the JSON array of the batch's events as written (text: not parsed on the way in; compressed with lz4
 *   where the server has it, else stored as is), `patients`/`agents` the union of its events' patients and agents
 *   (client ids, users' FHIR references) for GIN look-ups, `first_recorded`/`last_recorded` its time span (BRIN).
 *   An AuditEvent's id is `{batch id}.{position}`; searches prefilter batches by these columns and then test each
 *   event (server/audit/store.ts).
 * - audit_event: a view with one row per event, for people and scripts that read the trail in SQL.
 *
 * Replaces 20261205000100's table, which held no data anyone relied on yet (introduced the same day).
 */
exports.up = async (knex) => {
  await knex.raw(`
    DROP TABLE audit_event;
    CREATE TABLE audit_batch (
      id             uuid        PRIMARY KEY,
      first_recorded timestamptz NOT NULL,
      last_recorded  timestamptz NOT NULL,
      patients       text[]      NOT NULL,
      agents         text[]      NOT NULL,
      events         text        NOT NULL
    );
    CREATE INDEX audit_batch_recorded ON audit_batch USING brin (first_recorded, last_recorded);
    CREATE INDEX audit_batch_patients ON audit_batch USING gin (patients);
    CREATE INDEX audit_batch_agents ON audit_batch USING gin (agents);
    DO $$
    BEGIN
      ALTER TABLE audit_batch ALTER COLUMN events SET COMPRESSION lz4;
    EXCEPTION WHEN OTHERS THEN
      ALTER TABLE audit_batch ALTER COLUMN events SET STORAGE EXTERNAL; -- pglz would cost more CPU than it saves
    END $$;
    CREATE VIEW audit_event AS
      SELECT b.id::text || '.' || e.ord AS id, (e.ev->>'recorded')::timestamptz AS recorded, e.ev->>'type' AS type,
             e.ev->>'subtype' AS subtype, e.ev->>'action' AS action, (e.ev->>'outcome')::smallint AS outcome,
             e.ev->>'client_id' AS client_id, e.ev->>'who' AS who, e.ev->>'address' AS address,
             ARRAY(SELECT jsonb_array_elements_text(coalesce(e.ev->'patient', '[]'))) AS patient,
             e.ev->>'request_id' AS request_id, e.ev->'detail' AS detail
        FROM audit_batch b CROSS JOIN LATERAL jsonb_array_elements(b.events::jsonb) WITH ORDINALITY AS e(ev, ord);
  `);
};

exports.down = async (knex) => {
  await knex.raw('DROP VIEW audit_event; DROP TABLE audit_batch');
};
