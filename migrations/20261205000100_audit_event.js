/**
 * The audit trail (issue 11 point 10): one lean row per AuditEvent, appended in batches by the server (server/audit/)
 * and rendered as a FHIR AuditEvent (Basic Audit Log Patterns shape) only when read. It is not a clinical resource:
 * no versions, no search index tables, no writes by clients.
 *
 * - id: a time-ordered UUID (v7 layout) made by the recording process, so the primary key grows at its right edge and
 *   `ORDER BY id` is the order of recording (paging, newest first). It is also the distribution column (DESIGN.md §3).
 * - recorded: BRIN (append-only, physically in time order: tiny and nearly free to maintain) for `date` searches.
 * - patient: the Patient ids the event is about (GIN, `patient @> '{id}'`), agent (`who`, a user's FHIR reference)
 *   and client_id: the searches an auditor runs. type/subtype/action/outcome are filters on top of those.
 * - detail: what varies by kind of event (entities, query, count, reason, token id), as JSON.
 */
exports.up = async (knex) => {
  await knex.raw(`
    CREATE TABLE audit_event (
      id         uuid        PRIMARY KEY,
      recorded   timestamptz NOT NULL,
      type       text        NOT NULL,
      subtype    text        NOT NULL,
      action     text        NOT NULL,
      outcome    smallint    NOT NULL,
      client_id  text,
      who        text,
      address    text,
      patient    text[],
      request_id text,
      detail     jsonb
    );
    CREATE INDEX audit_event_recorded ON audit_event USING brin (recorded);
    CREATE INDEX audit_event_patient ON audit_event USING gin (patient) WHERE patient IS NOT NULL;
    CREATE INDEX audit_event_who ON audit_event (who, id) WHERE who IS NOT NULL;
    CREATE INDEX audit_event_client ON audit_event (client_id, id) WHERE client_id IS NOT NULL;
  `);
};

exports.down = async (knex) => {
  await knex.raw('DROP TABLE audit_event');
};
