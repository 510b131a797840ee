/**
 * Bulk Data jobs ($export, $import): their state, kept by the server itself; the queue that runs them is
 * pg-boss, which keeps its own schema (`pgboss`) and migrates it on start.
 *
 * - bulk_job:            one row per kick-off: status, progress text, the finished manifest or the failure
 *                        outcome, and the export's transactionTime. `attempt` counts runs: only the newest run
 *                        of a job may report progress or finish it. Jobs are few and live on the coordinator
 *                        (DESIGN.md §3: job tables are never distributed).
 * - bulk_import_written: which resource each line of an import wrote, so references are checked once the whole
 *                        job is written (imports arrive in any order) and a dangling one is reported by file and
 *                        line. Emptied when the job ends.
 */
exports.up = async (knex) => {
  await knex.raw(`
    CREATE TABLE bulk_job (
      id               uuid        PRIMARY KEY,
      kind             text        NOT NULL CHECK (kind IN ('export', 'import')),
      status           text        NOT NULL CHECK (status IN ('queued', 'running', 'completed', 'failed', 'cancelled')),
      attempt          integer     NOT NULL DEFAULT 0,
      request          text        NOT NULL,
      params           jsonb       NOT NULL,
      transaction_time timestamptz,
      progress         text,
      manifest         jsonb,
      outcome          jsonb,
      created_at       timestamptz NOT NULL DEFAULT now(),
      started_at       timestamptz,
      finished_at      timestamptz,
      expires_at       timestamptz
    );
    CREATE INDEX bulk_job_expires ON bulk_job (expires_at) WHERE expires_at IS NOT NULL;

    CREATE TABLE bulk_import_written (
      job_id        uuid    NOT NULL,
      input         integer NOT NULL,
      line          integer NOT NULL,
      resource_type text    NOT NULL,
      id            text    NOT NULL
    );
    CREATE INDEX bulk_import_written_job ON bulk_import_written (job_id, input, line);
  `);
};

exports.down = async () => {
  throw new Error('migrations are forward-only');
};
