/**
 * Custom SearchParameters (issue 3 item 7; repository/search/parameters.ts and reindex.ts). Both tables are small
 * and live on the coordinator (DESIGN.md §3: job tables are never distributed).
 *
 * - search_parameter_state: one row per stored SearchParameter resource that is (or was) active: the definition
 *   every server process merges into its registry (each polls this table), and the reindex job of that version —
 *   status pending → active (or failed), its keyset cursor, progress counts and the lease of the process running
 *   it (a process that dies loses the lease; another resumes from the cursor). Deleted or deactivated parameters
 *   stay as 'retired' rows so their status remains readable.
 * - search_parameter_purge: (resource type, code) pairs whose index rows are garbage — the parameter was deleted,
 *   deactivated or changed its code or base — removed in batches by the runner. Defining a parameter again for a
 *   pair removes its purge row (its reindex replaces every row anyway).
 */
exports.up = async (knex) => {
  await knex.raw(`
    CREATE TABLE search_parameter_state (
      id            text        PRIMARY KEY,
      version_id    integer     NOT NULL,
      status        text        NOT NULL CHECK (status IN ('pending', 'active', 'failed', 'retired')),
      definition    jsonb       NOT NULL,
      registered_at timestamptz NOT NULL DEFAULT now(),
      cursor        jsonb,
      total         bigint,
      done          bigint      NOT NULL DEFAULT 0,
      attempts      integer     NOT NULL DEFAULT 0,
      lease_owner   text,
      lease_until   timestamptz,
      error         text,
      started_at    timestamptz,
      finished_at   timestamptz
    );
    CREATE TABLE search_parameter_purge (
      resource_type text        NOT NULL,
      code          text        NOT NULL,
      queued_at     timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (resource_type, code)
    );
  `);
};

exports.down = async () => {
  throw new Error('migrations are forward-only');
};
