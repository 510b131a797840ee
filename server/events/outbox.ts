/**
 * The outbox hook of the write engine's commit point: every written version becomes one event_outbox row in the
 * writing transaction (one multi-row statement per commit), so the row commits or rolls back with the change.
 */
import type { PoolClient } from '../database/pool';
import type { Caller } from '../repository/caller';
import type { StoredVersion } from '../repository/versions';
import type { AfterWriteHook } from '../repository/write-engine';
import type { Interaction } from './event';

export function interactionOf(v: StoredVersion): Interaction {
  if (v.deleted) return 'delete';
  return v.versionId === 1 ? 'create' : 'update';
}

export const appendToOutbox: AfterWriteHook = async (client: PoolClient, caller: Caller, versions: readonly StoredVersion[]) => {
  if (versions.length === 0) return;
  const { kind, reference, clientId } = caller.actor;
  await client.query(
    `INSERT INTO event_outbox (resource_type, resource_id, version_id, interaction, actor, request_id)
     SELECT t, i, v, x, $5::jsonb, $6 FROM unnest($1::text[], $2::text[], $3::int[], $4::text[]) AS u(t, i, v, x)`,
    [
      versions.map((v) => v.resourceType),
      versions.map((v) => v.id),
      versions.map((v) => v.versionId),
      versions.map(interactionOf),
      JSON.stringify({ kind, reference, clientId }),
      caller.requestId ?? null,
    ],
  );
};
