/**
 * The current version's body is stored once (issue 9, a lean create). Before, every version was in
 * resource_history and the current one again in `resource`: a create wrote its body, its row and three index
 * entries twice. Now:
 * - resource:            the current version of each resource (a deleted one keeps its tombstone), with the
 *                        `method` that wrote it;
 * - resource_superseded: the versions that are no longer current (the write statement moves the current row there
 *                        when it writes the next version);
 * - resource_history:    a view, every version (both tables): what history, vread and export read, as before.
 * Both tables are distributed by id (DESIGN.md §3) and every version keeps its (id, resource_type, version_id) key.
 * resource_last_updated orders `resource` for system-level history, as resource_superseded_last_updated orders the
 * superseded versions: a history page is a merge of two index walks. It is partial on `version_id > 0` (true of
 * every row) so that only queries naming that predicate (history.ts) use it: searches of one type keep walking
 * resource_type_last_updated instead of filtering a walk of every type.
 */
exports.up = async (knex) => {
  await knex.raw(`
    ALTER TABLE resource_history RENAME TO resource_superseded;
    ALTER TABLE resource_superseded RENAME CONSTRAINT resource_history_pkey TO resource_superseded_pkey;
    ALTER INDEX resource_history_last_updated RENAME TO resource_superseded_last_updated;
    ALTER INDEX resource_history_type_last_updated RENAME TO resource_superseded_type_last_updated;

    ALTER TABLE resource ADD COLUMN method text;
    UPDATE resource r SET method = h.method
      FROM resource_superseded h
     WHERE h.id = r.id AND h.resource_type = r.resource_type AND h.version_id = r.version_id;
    -- a current row without its history row was never written by the server; name what its state implies
    UPDATE resource SET method = CASE WHEN deleted THEN 'DELETE' ELSE 'PUT' END WHERE method IS NULL;
    ALTER TABLE resource ALTER COLUMN method SET NOT NULL;
    DELETE FROM resource_superseded h
     USING resource r
     WHERE h.id = r.id AND h.resource_type = r.resource_type AND h.version_id = r.version_id;

    CREATE INDEX resource_last_updated ON resource (last_updated, id, resource_type, version_id) WHERE version_id > 0;
    CREATE VIEW resource_history AS
      SELECT id, resource_type, version_id, last_updated, deleted, method, content FROM resource
      UNION ALL
      SELECT id, resource_type, version_id, last_updated, deleted, method, content FROM resource_superseded;
    ANALYZE resource;
    ANALYZE resource_superseded;
  `);
};

exports.down = async () => {
  throw new Error('migrations are forward-only');
};
