/**
 * What the HMS workflows (server/workflows/) need for exactly-once effects (HMS-DOMAIN.md §5.3, DESIGN.md §3):
 *
 * - business_claim:  one row per claimed business identifier (system, value) → the resource that carries it. A
 *                    workflow creates a resource with a deterministic key (invoice-key, dispense-key, …) only after
 *                    inserting its claim in the same transaction; a concurrent run blocks on the uncommitted key and
 *                    then finds the winner's resource. Distributed by the claimed value (its primary key), so it
 *                    stays valid on Citus.
 * - workflow_ledger: the processed-event ledger: (hook, resource version) recorded in the transaction of the
 *                    hook's writes; a replay of the same version does nothing. Distributed by the resource id.
 * - bill_sequence:   the per-hospital, per-year bill number counter; taken with UPDATE … RETURNING in the billing
 *                    transaction, so a rolled-back run leaves no gap. Small: a reference/coordinator table.
 */
exports.up = async (knex) => {
  await knex.raw(`
    CREATE TABLE business_claim (
      system        text        NOT NULL,
      value         text        NOT NULL,
      resource_type text        NOT NULL,
      resource_id   text        NOT NULL,
      claimed       timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (value, system)
    );

    CREATE TABLE workflow_ledger (
      resource_id   text        NOT NULL,
      resource_type text        NOT NULL,
      version_id    integer     NOT NULL,
      hook          text        NOT NULL,
      processed     timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (resource_id, resource_type, version_id, hook)
    );

    CREATE TABLE bill_sequence (
      hospital text    NOT NULL,
      year     integer NOT NULL,
      last     integer NOT NULL,
      PRIMARY KEY (hospital, year)
    );
  `);
};

exports.down = async () => {
  throw new Error('migrations are forward-only');
};
