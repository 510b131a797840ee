/**
 * Versioned resource storage (DESIGN.md §3). The distribution column of every table is the resource's logical
 * `id`: primary keys and every index row carry it, so a future Citus split routes a read, vread, update or
 * delete to one shard. No foreign keys between these tables (a shard split would break them).
 *
 * - resource:         the current version of each resource (deleted resources keep a tombstone row)
 * - resource_history: every version, including the current one and deletions
 * - resource_link:    the resource → resource references of each current version (referential integrity)
 * - search_token:     token search values extracted at write time (identifier, _id, …)
 */
exports.up = async (knex) => {
  await knex.raw(`
    CREATE TABLE resource (
      id            text        NOT NULL,
      resource_type text        NOT NULL,
      version_id    integer     NOT NULL,
      last_updated  timestamptz NOT NULL,
      deleted       boolean     NOT NULL DEFAULT false,
      content       jsonb,
      PRIMARY KEY (id, resource_type)
    );
    CREATE INDEX resource_type_last_updated ON resource (resource_type, last_updated, id);

    CREATE TABLE resource_history (
      id            text        NOT NULL,
      resource_type text        NOT NULL,
      version_id    integer     NOT NULL,
      last_updated  timestamptz NOT NULL,
      deleted       boolean     NOT NULL DEFAULT false,
      method        text        NOT NULL,
      content       jsonb,
      PRIMARY KEY (id, resource_type, version_id)
    );
    CREATE INDEX resource_history_last_updated ON resource_history (last_updated, id, resource_type, version_id);
    CREATE INDEX resource_history_type_last_updated ON resource_history (resource_type, last_updated, id, version_id);

    CREATE TABLE resource_link (
      id            text NOT NULL,
      resource_type text NOT NULL,
      target_type   text NOT NULL,
      target_id     text NOT NULL
    );
    CREATE INDEX resource_link_source ON resource_link (id, resource_type);
    CREATE INDEX resource_link_target ON resource_link (target_id, target_type);

    CREATE TABLE search_token (
      id            text NOT NULL,
      resource_type text NOT NULL,
      param         text NOT NULL,
      system        text,
      code          text
    );
    CREATE INDEX search_token_owner ON search_token (id, resource_type);
    CREATE INDEX search_token_value ON search_token (resource_type, param, code, system);
  `);
};

exports.down = async () => {
  throw new Error('migrations are forward-only');
};
